"""``sutazai a2a serve``: the workspace's agents as A2A 1.0 agents other frameworks can call."""

from __future__ import annotations

from typing import Annotated

import typer

from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.output import err_console

a2a_app = typer.Typer(
    rich_markup_mode=None, help="Agent2Agent (A2A 1.0): serve the workspace's agents.", no_args_is_help=True
)


@a2a_app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 11440,
    host: Annotated[
        str, typer.Option(help="Address; beyond loopback only with the workspace token.")
    ] = "127.0.0.1",
) -> None:
    """Serve every agent: cards at /agents/NAME/.well-known/agent-card.json, the workspace card at
    /.well-known/agent-card.json; messages, streaming, tasks and cancel over JSON-RPC."""
    import sutazai.agents.a2a_remote  # noqa: F401  # first: it quiets the SDK's own spans before they load
    from sutazai.workbench.a2a_server import serve as serve_a2a

    workspace = workspace_from(ctx)
    err_console.print(f"A2A agents of {workspace.root} on http://{host}:{port}/agents/NAME/", markup=False)
    serve_a2a(workspace, host, port)


def register(app: typer.Typer) -> None:
    app.add_typer(a2a_app, name="a2a")
