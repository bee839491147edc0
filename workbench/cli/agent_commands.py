"""Agent commands: init, list, run, chat, runs, show, schema."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from sutazai.agents.session import RunOutcome, open_runtime, run_to_end
from sutazai.errors import Problem, UserError
from sutazai.wire import Priority
from sutazai.workbench.cli.context import priority_flag, workspace_from
from sutazai.workbench.cli.default_group import group_with_default
from sutazai.workbench.cli.output import EXIT_GATEWAY, EXIT_RUN_FAILED, console, emit_json, err_console

if TYPE_CHECKING:
    pass

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _when(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")],
    demo: Annotated[bool, typer.Option("--demo", help="Add four example agents, one per kind.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a workspace (sutazai.toml and agents/)."""
    from sutazai.scaffolds.generate import init_workspace

    root = init_workspace(directory, demo=demo, force=force)
    agents = sorted(p.name for p in (root / "agents").iterdir() if not p.name.startswith("."))
    if as_json:
        emit_json({"workspace": str(root), "agents": agents})
        return
    console.print(
        f"Created workspace [bold]{root}[/]" + (f" with agents: {', '.join(agents)}" if agents else "")
    )
    console.print(
        f"Next: cd {directory} && sutazai stack up --detach && sutazai run {agents[0] if agents else 'NAME'} "
        '"hello"'
    )


def list_agents(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the workspace's agents, with broken ones and why."""
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore

    workspace = workspace_from(ctx)
    catalog = AgentCatalog.scan(workspace)
    last = RunStore(workspace.runs_db).last_runs_by_agent() if workspace.runs_db.exists() else {}
    rows: list[dict[str, Any]] = [
        {
            "name": a.name,
            "kind": a.spec.kind,
            "model": a.spec.model_ref,
            "priority": a.spec.priority,
            "description": a.spec.description,
            "last_status": last[a.name].status if a.name in last else None,
            "last_run": last[a.name].started_at if a.name in last else None,
            "problems": [],
        }
        for a in catalog.agents.values()
    ]
    rows += [
        {
            "name": name,
            "kind": None,
            "model": None,
            "priority": None,
            "description": "",
            "last_status": None,
            "last_run": None,
            "problems": [p.to_dict() for p in err.problems],
        }
        for name, err in catalog.broken.items()
    ]
    rows.sort(key=lambda r: r["name"])
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("agent", "kind", "model", "last run", "status", "description", box=None)
    for row in rows:
        if row["problems"]:
            first = row["problems"][0]
            table.add_row(
                row["name"],
                "[red]broken[/]",
                "",
                "",
                "",
                f"[red]{Path(first['file']).name}:{first['line']}: {first['message']}[/]",
            )
        else:
            table.add_row(
                row["name"],
                row["kind"],
                row["model"],
                _when(row["last_run"]),
                row["last_status"] or "-",
                row["description"],
            )
    console.print(table)


async def _run_once(
    ctx: typer.Context,
    agent_name: str,
    text: str,
    priority: Priority | None,
    as_json: bool,
    history: list[dict[str, Any]] | None = None,
) -> RunOutcome:
    from sutazai.agents.events import (
        MemoriesRetrieved,
        RunEvent,
        RunStarted,
        Token,
        ToolCalled,
        ToolReturned,
    )
    from sutazai.agents.loader import AgentCatalog

    workspace = workspace_from(ctx)
    agent = AgentCatalog.scan(workspace).get(agent_name)

    def show(event: RunEvent) -> None:
        if as_json:
            return
        match event:
            case RunStarted(run_id=run_id, model=model):
                err_console.print(f"[dim]run {run_id} · {agent_name} · {model}[/]")
            case Token(text=piece):
                console.print(piece, end="", markup=False, highlight=False, soft_wrap=True)
            case MemoriesRetrieved(hits=hits):
                err_console.print(f"[dim]↳ {len(hits)} memories retrieved[/]")
            case ToolCalled(name=name, arguments=arguments):
                err_console.print(f"\n[cyan]→ {escape(name)}({escape(json.dumps(arguments))})[/]")
            case ToolReturned(name=name, result=result):
                err_console.print(f"[cyan]← {escape(name)}: {escape(result[:200])}[/]")

    async with open_runtime(workspace) as runtime:
        return await run_to_end(runtime, agent, text, history=history, priority=priority, on_event=show)


def run(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="Agent name.")],
    text: Annotated[str, typer.Argument(help="Input for the agent.")],
    priority: Annotated[str | None, typer.Option(help="interactive | normal | batch")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run an agent once, streaming its answer; prints the run id."""
    finished = asyncio.run(_run_once(ctx, agent, text, priority_flag(priority), as_json))
    if as_json:
        emit_json(
            {
                "run_id": finished.run_id,
                "status": finished.status,
                "output": finished.output,
                "error": finished.error,
                "prompt_tokens": finished.prompt_tokens,
                "completion_tokens": finished.completion_tokens,
            }
        )
    else:
        console.print()
        style = "green" if finished.status == "ok" else "red"
        err_console.print(
            f"[{style}]{finished.status}[/] run {finished.run_id} · "
            f"{finished.prompt_tokens}+{finished.completion_tokens} tokens"
            + (f" · {escape(finished.error)}" if finished.error else "")
        )
    if finished.status == "unavailable":
        raise typer.Exit(EXIT_GATEWAY)
    if finished.status != "ok":
        raise typer.Exit(EXIT_RUN_FAILED)


def chat(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="Agent name.")],
    priority: Annotated[str, typer.Option(help="interactive | normal | batch")] = "interactive",
) -> None:
    """Chat with an agent; each turn is a recorded run. Ctrl-D or /exit to leave."""
    chosen = priority_flag(priority)
    history: list[dict[str, Any]] = []
    console.print(f"Chatting with [bold]{agent}[/] (Ctrl-D or /exit to leave)")
    while True:
        try:
            text = console.input("[bold]you> [/]")
        except EOFError:
            console.print()
            return
        if text.strip() in ("/exit", "/quit"):
            return
        if not text.strip():
            continue
        finished = asyncio.run(_run_once(ctx, agent, text, chosen, False, history))
        console.print()
        if finished.status == "ok":
            history += [{"role": "user", "content": text}, {"role": "assistant", "content": finished.output}]
        else:
            err_console.print(f"[red]{finished.status}: {escape(finished.error or '')}[/]")


def runs(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Argument(metavar="AGENT", help="Only this agent's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Recent runs, newest first."""
    from dataclasses import asdict

    from sutazai.agents.runstore import RunStore

    workspace = workspace_from(ctx)
    records = RunStore(workspace.runs_db).runs(agent, limit)
    if as_json:
        emit_json([asdict(r) for r in records])
        return
    from rich.table import Table

    table = Table("run", "agent", "started", "status", "ms", "tokens", "input", box=None)
    for r in records:
        ms = f"{r.duration_ms:.0f}" if r.duration_ms is not None else "-"
        table.add_row(
            r.id,
            f"↳ {r.agent}" if r.parent_run else r.agent,  # delegated by another run
            _when(r.started_at),
            r.status,
            ms,
            str(r.prompt_tokens + r.completion_tokens),
            r.input[:50],
        )
    console.print(table)


def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    as_json: JsonFlag = False,
) -> None:
    """A run's trace, step by step, with the runs it delegated to."""
    from sutazai.agents.run_record import run_view
    from sutazai.agents.runstore import RunStore
    from sutazai.errors import Problem, UserError
    from sutazai.workbench.run_render import render_run

    store = RunStore(workspace_from(ctx).runs_db)
    record = store.run(run_id)
    if record is None:
        raise UserError(Problem(f"no single run matches {run_id!r}", hint="`sutazai runs` lists run ids"))
    view = run_view(store, record)
    if as_json:
        emit_json(view.to_json())
        return
    console.print(render_run(view), soft_wrap=True)


def schema() -> None:
    """Print the JSON Schema of agent.yaml."""
    from sutazai.agents.spec import json_schema

    emit_json(json_schema())


def mcp(
    ctx: typer.Context,
    http: Annotated[
        int | None,
        typer.Option("--http", help="Serve Streamable HTTP on this port (127.0.0.1) instead of stdio."),
    ] = None,
) -> None:
    """Serve the workbench over MCP: list agents, run, smoke-test, read traces; runs and agent files
    as resources; prompts to debug a run or write a smoke case from it."""
    from sutazai.workbench.mcp_server import serve

    serve(workspace_from(ctx), http_port=http)


def register(app: typer.Typer) -> None:
    app.command()(mcp)
    app.command()(init)
    app.command("list")(list_agents)
    app.command()(run)
    app.command()(chat)
    runs_app = group_with_default(
        "Recorded runs: `sutazai runs [AGENT]` lists them, `sutazai runs export` writes them out.",
        ("list", runs),
        ("export", export),
    )
    app.add_typer(runs_app, name="runs")
    app.command()(show)
    app.command()(schema)


def export(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Argument(metavar="AGENT", help="Only this agent's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    export_format: Annotated[
        str,
        typer.Option(
            "--format", help="jsonl (runs with steps), otlp (OTLP protobuf traces) or otlp-json (OTLP/JSON)."
        ),
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Send the traces to this OTLP/HTTP endpoint (http://host:4318)."),
    ] = None,
) -> None:
    """Write runs out for other tools: JSON lines with their steps, or OpenTelemetry traces (the runs
    they delegated to inside the same trace)."""
    import sys

    from sutazai.agents.run_export import otlp_protobuf, root_run, runs_jsonl, runs_otlp
    from sutazai.agents.run_record import run_view
    from sutazai.agents.runstore import RunStore

    if export_format not in ("jsonl", "otlp", "otlp-json") or (to and export_format == "jsonl"):
        raise UserError(
            Problem(
                f"cannot export {export_format!r} that way",
                hint="--format jsonl, otlp or otlp-json; --to takes otlp",
            )
        )
    store = RunStore(workspace_from(ctx).runs_db)
    records = store.runs(agent, limit)
    data: bytes
    if export_format == "jsonl":
        data = "".join(line + "\n" for line in runs_jsonl(run_view(store, r) for r in records)).encode()
    else:
        views = {v.run.id: v for r in records for _, v in run_view(store, r).walk()}  # children once
        request = runs_otlp(
            [(v.run, store.steps(v.run.id)) for v in views.values()], lambda run: root_run(store, run)
        )
        try:
            data = otlp_protobuf(request) if export_format == "otlp" else json.dumps(request).encode() + b"\n"
        except ImportError:
            raise UserError(
                Problem("OTLP protobuf needs the otel extra", hint="pip install 'sutazai-workbench[otel]'")
            ) from None
    if to is not None:
        _send_traces(to, data, export_format)
        console.print(f"{len(records)} runs sent to {to} ({export_format})", highlight=False)
    elif out is None:
        if export_format == "otlp" and sys.stdout.isatty():
            raise UserError(
                Problem("OTLP protobuf is binary", hint="use -o FILE, --to URL, or --format otlp-json")
            )
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        console.print(f"{len(records)} runs written to {out} ({export_format})", highlight=False)


def _send_traces(endpoint: str, data: bytes, export_format: str) -> None:
    import httpx

    base = endpoint.rstrip("/")
    url = base if base.endswith("/v1/traces") else base + "/v1/traces"
    kind = "application/x-protobuf" if export_format == "otlp" else "application/json"
    try:
        response = httpx.post(url, content=data, headers={"Content-Type": kind}, timeout=30)
    except httpx.HTTPError as exc:
        raise UserError(Problem(f"could not send traces to {url}: {exc}")) from None
    if response.status_code >= 300:
        raise UserError(Problem(f"{url} refused the traces: {response.status_code} {response.text[:200]}"))
