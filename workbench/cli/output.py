"""Printing for humans (rich) or machines (``--json``), and the exit codes that mean something."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from sutazai.errors import UserError

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_GATEWAY = 3

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    """Indented for a person at a terminal; one compact line for a pipe or a file, which Python's C
    encoder writes several times faster (it is not used when ``indent`` is set): 15,000 smoke
    results took ~2 s to print indented."""
    indent = 2 if sys.stdout.isatty() else None
    separators = None if indent else (",", ":")
    sys.stdout.write(
        json.dumps(data, indent=indent, separators=separators, ensure_ascii=False, default=str) + "\n"
    )


def report_error(exc: UserError, as_json: bool = False) -> int:
    if as_json:
        emit_json({"error": [p.to_dict() for p in exc.problems]})
    else:
        for problem in exc.problems:
            where = f"{problem.location()}: " if problem.location() else ""
            err_console.print(f"[bold red]error[/]: {escape(where + problem.message)}", soft_wrap=True)
            if problem.hint:
                err_console.print(f"  [dim]hint:[/] {escape(problem.hint)}", soft_wrap=True)
    return exc.exit_code
