"""Opening a workspace, its run store and a runtime for one CLI command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import typer

from sutazai.workspace import Workspace


def workspace_from(ctx: typer.Context) -> Workspace:
    obj: dict[str, Any] = ctx.obj or {}
    return Workspace.discover(obj.get("workspace"), obj.get("flags"))


@asynccontextmanager
async def open_runtime(workspace: Workspace) -> AsyncIterator[Any]:
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.redact import Redactor

    settings = workspace.settings
    store = RunStore(workspace.runs_db, Redactor(settings.secrets.env))
    client = GatewayClient(settings.gateway.url, settings.gateway.timeout_s, token=workspace.gateway_token())
    try:
        yield AgentRuntime(workspace, client, store)
    finally:
        await client.aclose()
        store.close()
        from sutazai.agents.tracing import flush

        flush()
