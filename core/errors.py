"""User-facing errors: each one says where the problem is and what to do about it.

A user mistake must never surface as a traceback. Code raises :class:`UserError` (or a subclass)
and the CLI, TUI and language server render it; anything else is a bug and may show a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Problem:
    """One located problem: ``file:line:col: message``. Lines and columns are 1-based.

    The same record serves the CLI (rendered), the loader (raised in a :class:`SpecError`) and the
    language server (published as a diagnostic): ``code`` names the rule, ``end_column`` ends the
    range on the same line, and ``data`` carries what a quick fix needs (``replace``, ``tool``,
    ``file``) so that no front end parses messages.
    """

    message: str
    file: Path | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    code: str = "error"
    end_column: int | None = None
    severity: Severity = "error"
    data: Mapping[str, str] = field(default_factory=dict, hash=False)

    def location(self) -> str:
        if self.file is None:
            return ""
        parts = [str(self.file)]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": str(self.file) if self.file else None,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
        }


class UserError(Exception):
    """A mistake the user can fix; carries one or more located problems and an exit code."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = problems
        super().__init__("\n".join(p.render() for p in problems))


class SpecError(UserError):
    """An agent, workspace or smoke file that does not validate."""


class WorkspaceNotFound(UserError):
    """No ``sutazai.toml`` in the current folder or any parent."""


class BudgetExceeded(UserError):
    """A run or an agent spent the tokens its budget allows (``limits.max_total_tokens``,
    ``[budgets]``): the run ends with status ``budget`` rather than spend more."""


class GatewayUnavailable(UserError):
    """The gateway did not answer; distinct exit code so scripts can tell it from a failed run."""

    exit_code = 3
