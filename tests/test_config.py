from __future__ import annotations

import os
from pathlib import Path

import pytest

from sutazai.config import load_settings
from sutazai.errors import SpecError, UserError, WorkspaceNotFound
from sutazai.workspace import Workspace, check_name


def test_precedence_flags_env_workspace_user_defaults(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text('[gateway]\nurl = "http://user:1"\ntimeout_s = 7\n[tiers]\nfast = "u-fast"\n')
    ws = tmp_path / "sutazai.toml"
    ws.write_text('[gateway]\nurl = "http://ws:2"\n[tiers]\nquality = "ws-quality"\n')

    assert load_settings(None, environ={}, user_toml=tmp_path / "none.toml").gateway.url.endswith(":11435")
    s = load_settings(ws, environ={}, user_toml=user)
    assert (s.gateway.url, s.gateway.timeout_s, s.tiers["fast"], s.tiers["quality"]) == (
        "http://ws:2",
        7,
        "u-fast",
        "ws-quality",
    )
    s = load_settings(
        ws, environ={"SUTAZAI_GATEWAY_URL": "http://env:3", "SUTAZAI_TIERS_FAST": "e"}, user_toml=user
    )
    assert (s.gateway.url, s.tiers["fast"]) == ("http://env:3", "e")
    s = load_settings(
        ws,
        flags={"gateway": {"url": "http://flag:4"}},
        environ={"SUTAZAI_GATEWAY_URL": "http://env:3"},
        user_toml=user,
    )
    assert s.gateway.url == "http://flag:4"


def test_port_without_url_moves_the_url(tmp_path: Path) -> None:
    ws = tmp_path / "sutazai.toml"
    ws.write_text("[gateway]\nport = 12000\n")
    assert load_settings(ws, environ={}, user_toml=tmp_path / "x").gateway.url == "http://127.0.0.1:12000"


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    ws = tmp_path / "sutazai.toml"
    ws.write_text('[gateway]\nurl = "unterminated\n')
    with pytest.raises(SpecError) as info:
        load_settings(ws, environ={}, user_toml=tmp_path / "x")
    problem = info.value.problems[0]
    assert problem.file == ws and problem.line == 2


def test_unknown_key_is_reported(tmp_path: Path) -> None:
    ws = tmp_path / "sutazai.toml"
    ws.write_text("[gateway]\nurll = 'x'\n")
    with pytest.raises(SpecError, match=r"gateway\.urll"):
        load_settings(ws, environ={}, user_toml=tmp_path / "x")


def test_unknown_and_wrong_keys_are_located_in_the_file_that_sets_them(tmp_path: Path) -> None:
    """A typo in [stack] or in the second [[stack.engines]] names its line, column and the key meant."""
    ws = tmp_path / "sutazai.toml"
    ws.write_text(
        "[gateway]\nport = 1\n\n[stack]\nengine = 'xllamacpp'\nthreds = 4\n\n"
        "[[stack.engines]]\nname = 'a'\nurl = 'http://127.0.0.1:1'\n\n"
        "[[stack.engines]]\nname = 'b'\n  urll = 'http://127.0.0.1:2'\n"
    )
    user = tmp_path / "user.toml"
    user.write_text("[memory]\n\nbackend = 'faiss'\ntop = 3\n")
    with pytest.raises(SpecError) as info:
        load_settings(ws, environ={}, user_toml=user)
    found = {(p.file, p.line, p.column, p.end_column, p.data.get("replace")) for p in info.value.problems}
    assert (ws, 6, 1, 7, "threads") in found
    assert (ws, 14, 3, 7, "url") in found
    assert (user, 4, 1, 4, None) in found
    assert all(p.code == "schema" for p in info.value.problems)


def test_workspace_is_found_walking_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sutazai.toml").write_text("")
    deep = tmp_path / "agents" / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.discover().root == tmp_path.resolve()
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(WorkspaceNotFound):
        Workspace.discover()


@pytest.mark.parametrize("name", ["../etc", "a/b", "Upper", "1abc", "", "tests", "x" * 80, "a b"])
def test_names_never_escape_their_folder(name: str) -> None:
    with pytest.raises(UserError):
        check_name(name)


def test_the_suite_never_reads_the_developers_own_settings() -> None:
    """conftest points XDG_CONFIG_HOME at an empty folder: a developer's ~/.config/sutazai/config.toml
    (another gateway URL, other tiers) cannot change what the tests see."""
    from sutazai.config import user_config_path

    path = user_config_path()
    assert not path.is_relative_to(Path.home() / ".config")
    assert path.is_relative_to(Path(os.environ["XDG_CONFIG_HOME"])) and not path.exists()
