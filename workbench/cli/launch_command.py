"""``sutazai launch TOOL``: a coding agent (Claude Code, Codex CLI, OpenCode, Crush, Aider) started
with the workspace's gateway as its model, tagged as an interactive agent of its own name."""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import TYPE_CHECKING, Annotated

import typer

from sutazai.errors import Problem, UserError
from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.output import EXIT_USER_ERROR, console, emit_json, err_console

if TYPE_CHECKING:
    from sutazai.scaffolds.coding_agents import Fit, Launch, Target
    from sutazai.workspace import Workspace

TOOL_NAMES = "claude | codex | opencode | crush | aider"


def launch(
    ctx: typer.Context,
    tool: Annotated[str, typer.Argument(help=TOOL_NAMES)],
    args: Annotated[list[str] | None, typer.Argument(help="The tool's own arguments (after --).")] = None,
    tier: Annotated[str, typer.Option(help="The tier the tool codes with.")] = "quality",
    small_tier: Annotated[
        str, typer.Option(help="The tier for its small jobs (titles, summaries).")
    ] = "fast",
    lean: Annotated[
        bool | None,
        typer.Option(
            "--lean/--full",
            help="Short instructions and few tools (default: only when the full set-up does not fit).",
        ),
    ] = None,
    show: Annotated[bool, typer.Option("--print", help="Show the configuration; start nothing.")] = False,
    install: Annotated[
        bool, typer.Option("--install", help="Install the tool in its own place first.")
    ] = False,
    anyway: Annotated[bool, typer.Option("--anyway", help="Start even if its prompt does not fit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --print: the configuration as JSON.")] = False,
) -> None:
    """Start a coding agent on the shared backend (fair scheduling, budgets and traces included)."""
    from sutazai.scaffolds.aider import model_entry
    from sutazai.scaffolds.coding_agents import AGENTS, Fit, Target, configure, environment
    from sutazai.scaffolds.tool_envs import find
    from sutazai.scaffolds.tool_envs import install as install_tool

    if tool not in AGENTS:
        raise UserError(Problem(f"unknown coding agent {tool!r}", hint=f"one of: {TOOL_NAMES}"))
    workspace = workspace_from(ctx)
    url = workspace.settings.gateway.url
    entry = model_entry(workspace, tier)
    if entry is None and not show:
        raise UserError(
            Problem(
                f"the gateway at {url} does not answer, or serves no tier {tier!r}",
                hint="start it with `sutazai stack up`; `sutazai launch TOOL --print` works without it",
            )
        )
    context = entry.context_length if entry and entry.context_length else 4096
    max_output = entry.max_output_tokens if entry and entry.max_output_tokens else context
    target = Target(url, tier, small_tier, context, max_output)
    fit = Fit.of(AGENTS[tool], target, lean)
    spec = AGENTS[tool]
    setup = configure(tool, target, workspace.private_dir() / "launch" / tool, fit.lean)
    if show:
        _show(setup, as_json)
        return
    if not fit.fits and not anyway:
        _too_small(workspace, tool, target, fit)
        raise typer.Exit(EXIT_USER_ERROR)
    token = workspace.gateway_token()
    if token is None:
        raise UserError(Problem("no gateway token in this workspace", hint="run `sutazai stack up` first"))
    executable = find(tool)
    if executable is None:
        if not install:
            raise UserError(
                Problem(
                    f"{spec.title} is not installed",
                    hint=f"add --install (or `sutazai tools install {tool}`)",
                )
            )
        console.print(f"installing {spec.title} into its own place…")
        executable = install_tool(tool)
    setup.write()
    how = "lean set-up (short instructions, few tools)" if fit.lean else "its full set-up"
    err_console.print(
        f"{spec.title} → {url} (tier {tier}, {context:,}-token window), {how}; "
        f"configuration in {setup.folder}",
        markup=False,
    )
    command = [str(executable), *setup.argv, *(args or [])]
    code = subprocess.run(
        command, cwd=workspace.root, env={**os.environ, **environment(setup, token)}
    ).returncode
    raise typer.Exit(code)


def _too_small(workspace: Workspace, tool: str, target: Target, fit: Fit) -> None:
    from sutazai.scaffolds.coding_agents import AGENTS, tiers_that_fit

    spec = AGENTS[tool]
    need = fit.need or 0
    windows = _windows(workspace)
    fitting = tiers_that_fit(need, windows)
    err_console.print(
        f"{spec.title}'s first request needs about {need - target.output:,} tokens plus {target.output:,} "
        f"for its answer ({need:,}), over tier {target.tier}'s {target.context:,}-token window "
        f"(measured with {spec.title} {spec.measured}).",
        markup=False,
    )
    if fitting:
        err_console.print(f"A tier that fits: {', '.join(fitting)} (`--tier {fitting[0]}`).", markup=False)
    else:
        lean = "" if fit.lean or spec.lean_tokens is None else " Try `--lean`;"
        err_console.print(
            f"No tier served here has that window.{lean} add a larger model under [tiers] in sutazai.toml, "
            "or `--anyway` to start it regardless.",
            markup=False,
        )


def _windows(workspace: Workspace) -> dict[str, int]:
    """Each tier's and model's window, as the gateway publishes them."""
    import asyncio

    from sutazai.agents.gateway_client import GatewayClient

    async def ask() -> dict[str, int]:
        url, token = workspace.settings.gateway.url, workspace.gateway_token()
        async with GatewayClient(url, timeout_s=3.0, token=token) as client:
            return {e.id: e.context_length for e in await client.model_entries() if e.context_length}

    try:
        return asyncio.run(ask())
    except UserError:
        return {}


def _show(setup: Launch, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "tool": setup.tool.name,
                "folder": str(setup.folder),
                "lean": setup.lean,
                "files": setup.files,
                "env": setup.env,
                "args": setup.argv,
            }
        )
        return
    # Plain echo: a console would wrap long lines, and a wrapped TOML line is no longer TOML.
    typer.echo(f"# {setup.tool.title} ({setup.tool.dialect}); written to {setup.folder} at launch")
    for name, content in setup.files.items():
        typer.echo(f"\n## {name}\n{content}", nl=False)
    typer.echo("\n## environment (the token from .sutazai/gateway.token)")
    for key, value in setup.env.items():
        shown = f'"{value}"' if value.startswith("$") else shlex.quote(value)  # the shell expands it
        typer.echo(f"{key}={shown}")
    if setup.argv:
        typer.echo(f"\n## arguments\n{shlex.join(setup.argv)}")


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(launch)
