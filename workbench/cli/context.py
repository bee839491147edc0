"""The CLI's workspace: found from ``--workspace`` or the current folder (runtimes: ``sutazai.agents.session``)."""

from __future__ import annotations

from typing import Any

import typer

from sutazai.wire import Priority, parse_priority
from sutazai.workspace import Workspace


def workspace_from(ctx: typer.Context) -> Workspace:
    obj: dict[str, Any] = ctx.obj or {}
    return Workspace.discover(obj.get("workspace"), obj.get("flags"))


def priority_flag(value: str | None) -> Priority | None:
    """A ``--priority`` callback: checked before any work, with the choices in the message."""
    if value is None:
        return None
    try:
        return parse_priority(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
