"""Scaffolds: every kind and framework template generates and validates; bad input loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sutazai.agents.loader import load_agent
from sutazai.agents.smoke.spec import load_smoke
from sutazai.errors import UserError
from sutazai.scaffolds import generate
from sutazai.scaffolds.generate import FRAMEWORKS, init_workspace, new_agent
from sutazai.scaffolds.kinds import KIND_DEFAULTS

SUTAZAI = str(Path(sys.executable).parent / "sutazai")


@pytest.mark.parametrize("kind", list(KIND_DEFAULTS))
def test_every_kind_generates_a_valid_agent(tmp_path: Path, kind: str) -> None:
    folder = new_agent(tmp_path / "agents", f"a-{kind}", kind)
    agent = load_agent(folder)
    assert agent.spec.kind == kind and KIND_DEFAULTS[kind]["example_tool"] in agent.tools
    assert len(load_smoke(folder / "smoke.yaml").cases) == 2
    assert (folder / f"test_a_{kind}.py").read_text().count("sutazai_agent") == 2
    assert (folder / "agent.yaml").read_text().startswith("# yaml-language-server: $schema=")


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_every_framework_template_generates_a_valid_agent(tmp_path: Path, framework: str) -> None:
    folder = new_agent(tmp_path / "agents", "fw-bot", "conversation", framework=framework)
    agent = load_agent(folder)
    assert agent.spec.entrypoint == "agent_main:run"
    source = (folder / "agent_main.py").read_text()
    compile(source, "agent_main.py", "exec")
    assert "ctx.base_url" in source and (folder / "requirements.txt").read_text().strip()


@pytest.mark.parametrize("name", ["../escape", "Bad", "a/b", "tools", "", "9lives"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError):
        new_agent(tmp_path / "agents", name, "code")
    assert not (tmp_path / "agents").exists() or not any((tmp_path / "agents").iterdir())


def test_existing_folder_needs_force_and_force_replaces_atomically(tmp_path: Path) -> None:
    folder = new_agent(tmp_path / "agents", "bot", "code")
    (folder / "prompt.md").write_text("mine")
    with pytest.raises(UserError, match="already exists"):
        new_agent(tmp_path / "agents", "bot", "document")
    assert (folder / "prompt.md").read_text() == "mine"
    new_agent(tmp_path / "agents", "bot", "document", force=True)
    assert load_agent(folder).spec.kind == "document"
    assert [p.name for p in (tmp_path / "agents").iterdir()] == ["bot"]


def test_an_interrupted_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = generate._render_tree
    calls = {"n": 0}

    def failing(*args: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if Ctrl-C arrived half-way
        real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(generate, "_render_tree", failing)
    with pytest.raises(KeyboardInterrupt):
        new_agent(tmp_path / "agents", "half", "code", framework="langchain")
    assert list((tmp_path / "agents").iterdir()) == []


def test_unwritable_workspace_is_a_clear_error(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    (root / "agents").rmdir()
    (root / "agents").write_text("not a folder")  # root ignores chmod; a file blocks writes for everyone
    result = subprocess.run([SUTAZAI, "new", "bot"], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr and result.stderr.strip()


def test_cli_new_runs_at_once(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    made = subprocess.run(
        [SUTAZAI, "new", "helper", "--kind", "knowledge", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0 and "test_helper.py" in made.stdout
    listed = subprocess.run([SUTAZAI, "list", "--json"], cwd=root, capture_output=True, text=True, timeout=60)
    helper = next(a for a in json.loads(listed.stdout) if a["name"] == "helper")
    assert helper["problems"] == []


def test_tool_history_files_are_never_the_edit(tmp_path: Path) -> None:
    """Without git, Aider's history files once counted as its edit (a false success, exit 0)."""
    from sutazai.scaffolds.aider import changed_files, fingerprint

    folder = new_agent(tmp_path / "agents", "bot", "document")
    before = fingerprint(folder)
    (folder / ".aider.chat.history.md").write_text("# aider chat started\n")
    (folder / ".aider.input.history").write_text("+hello\n")
    (folder / ".gpteng" / "memory").mkdir(parents=True)
    (folder / ".gpteng" / "memory" / "log.txt").write_text("x")
    assert changed_files(before, fingerprint(folder)) == []
    (folder / "prompt.md").write_text("You are terse.\n")
    assert changed_files(before, fingerprint(folder)) == ["prompt.md"]
    gitignore = (init_workspace(tmp_path / "ws") / ".gitignore").read_text()
    assert ".aider*" in gitignore.splitlines() and ".gpteng/" in gitignore.splitlines()


FAKE_GPTE = """#!{python}
import pathlib, sys, time
project = pathlib.Path(sys.argv[1])
assert sys.argv[sys.argv.index("--model") + 1] == "{tier}", sys.argv
time.sleep(0.5)
print("hint: Using 'master' as the name for the initial branch.", flush=True)
logs = project / ".gpteng" / "memory" / "logs"
logs.mkdir(parents=True)
title = "=" * 34 + " Ai Message " + "=" * 34
(logs / "all_output.txt").write_text("System...\\n\\n" + title + "\\n\\n{answer}")
"""


@pytest.mark.parametrize(
    ("answer", "reason"),
    [("", "answered with nothing"), ("I cannot help with agents.", "answered without files")],
)
def test_gpt_engineer_says_the_model_s_answer_when_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, reason: str
) -> None:
    """The tool is a stand-in here (the real one runs in test_tools_integration): what is under test
    is the reason given, the tier passed on and the progress reported while it runs."""
    from sutazai.scaffolds import gpte
    from sutazai.workspace import Workspace

    tools = tmp_path / "tools" / "gpt-engineer" / "bin"
    tools.mkdir(parents=True)
    fake = tools / "gpte"
    fake.write_text(FAKE_GPTE.format(python=sys.executable, tier="my-tier", answer=answer))
    fake.chmod(0o755)
    monkeypatch.setenv("SUTAZAI_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setattr(gpte, "PROGRESS_EVERY_S", 0.1)
    ticks: list[float] = []
    root = init_workspace(tmp_path / "ws")
    report = gpte.generate_from_prompt(
        Workspace(root), "gen", "tells the time", tier="my-tier", progress=lambda s, _: ticks.append(s)
    )
    assert report.created is None and ticks
    [problem] = report.problems
    assert reason in problem and "my-tier" in problem and "hint:" not in problem, problem
    assert not (root / "agents" / "gen").exists()


def test_tool_environments_are_filled_by_uv_when_there_is_one_else_by_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sutazai.scaffolds.tool_envs import pip_install

    log = tmp_path / "argv"
    recorder = tmp_path / "recorder"
    recorder.write_text(f'#!/bin/sh\necho "$0 $*" > {log}\n')
    recorder.chmod(0o755)
    python = tmp_path / "venv" / "bin" / "python"
    monkeypatch.setenv("SUTAZAI_UV", str(recorder))
    assert pip_install(python, ["aider-chat"]).returncode == 0
    assert log.read_text().split() == [
        str(recorder),
        "pip",
        "install",
        "-q",
        "--compile-bytecode",  # as pip does: each start of the tool would compile it again
        "--python",
        str(python),
        "aider-chat",
    ]
    monkeypatch.delenv("SUTAZAI_UV")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    python.parent.mkdir(parents=True)
    python.symlink_to(recorder)  # the venv's own python runs pip when there is no uv
    assert pip_install(python, ["aider-chat"]).returncode == 0
    assert log.read_text().split() == [str(python), "-m", "pip", "install", "-q", "aider-chat"]
