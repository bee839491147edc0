"""The CLI's workspace: found from ``--workspace`` or the current folder (runtimes: ``sutazai.agents.session``)."""

from __future__ import annotations

from typing import Any

import typer

from sutazai.workspace import Workspace


def workspace_from(ctx: typer.Context) -> Workspace:
    obj: dict[str, Any] = ctx.obj or {}
    return Workspace.discover(obj.get("workspace"), obj.get("flags"))
