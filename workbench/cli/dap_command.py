"""``sutazai dap``: the agent debugger as a Debug Adapter Protocol server (debug type ``sutazai``),
over stdio for editors that start it, or on a loopback TCP port for ones that connect."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from sutazai.workbench.cli.output import err_console


def dap(
    port: Annotated[
        int | None, typer.Option("--port", help="Listen on this TCP port (0: any free one).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on with --port.")] = "127.0.0.1",
) -> None:
    """Debug agents from VS Code, Neovim (nvim-dap), Helix, Zed or Emacs: breakpoints on tools and
    delegates, stepping into delegated agents, edit-and-continue (docs/editors.md)."""
    import asyncio

    from sutazai.workbench.dap.session import serve_stdio, serve_tcp

    cwd = Path.cwd()
    if port is None:
        asyncio.run(serve_stdio(cwd))
        return

    def ready(bound: int) -> None:
        err_console.print(f"sutazai dap listening on {host}:{bound}", markup=False)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the server quietly
        asyncio.run(serve_tcp(cwd, host, port, ready))


def register(app: typer.Typer) -> None:
    app.command()(dap)
