"""Every command's ``--help`` says what its code says: user text never goes through markup, so a
``[a-z]`` pattern or a ``[native]`` extra is printed as written; subcommands have their own help."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from sutazai.workbench.cli.main import app


def _commands(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


COMMANDS = list(_commands(get_command(app)))


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "sutazai" for p, _ in COMMANDS])
def test_help_prints_every_text_as_written(path: tuple[str, ...], command: object) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    assert f"Usage: sutazai {' '.join(path)}".rstrip() in shown  # its own help, not its parent's
    texts = [getattr(command, "help", None) or ""]
    texts += [getattr(p, "help", None) or "" for p in getattr(command, "params", [])]
    for text in filter(None, texts):
        first = _flat(text.strip().split("\n\n")[0]).rstrip(".")
        assert first[:60] in shown, f"{first!r} not in {' '.join(path)} --help"


def test_brackets_survive_in_help_and_in_the_doctors_advice(capsys: pytest.CaptureFixture[str]) -> None:
    from sutazai.workbench.cli import doctor

    new = CliRunner().invoke(app, ["new", "--help"], terminal_width=200)
    assert "[a-z][a-z0-9-]*" in new.output
    fix = "pip install 'sutazai-workbench[native]' and set [stack] engine = \"llama-server\""
    doctor.show([doctor.Check("native build", False, "no [native] build", fix, required=False)])
    shown = _flat(capsys.readouterr().out)
    assert fix in shown and "no [native] build" in shown
