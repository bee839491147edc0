"""``sutazai smoke``: the gate before deploy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.default_group import group_with_default
from sutazai.workbench.cli.output import EXIT_GATEWAY, EXIT_RUN_FAILED, console, emit_json, err_console
from sutazai.workbench.smoke_render import change_table, rate, verdict
from sutazai.workspace import Workspace

if TYPE_CHECKING:
    from sutazai.agents.smoke.results import ResultsFile
    from sutazai.agents.smoke.runner import CaseResult, Mode
    from sutazai.agents.smoke.verdicts import CaseChange


def smoke(
    ctx: typer.Context,
    agents: Annotated[list[str] | None, typer.Argument(help="Agents to test (default: all).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only cases with this tag.")] = None,
    parallel: Annotated[int, typer.Option("--parallel", "-p", min=1, max=256)] = 4,
    record: Annotated[bool, typer.Option("--record", help="Store model exchanges in cassettes.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Replay cassettes offline, no engine.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    samples: Annotated[
        int,
        typer.Option("--samples", "-n", help="Runs of each case (seeds varied): a pass rate, not one draw."),
    ] = 1,
    k: Annotated[
        int | None, typer.Option("--k", help="k of pass@k and pass^k (default: the samples).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write every sample's result here (for `smoke compare`).")
    ] = None,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed",
            help="Only cases whose agent (files, model, delegates) or case changed since --base.",
        ),
    ] = False,
    base: Annotated[
        Path | None, typer.Option("--base", help="The results file --changed compares against.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run smoke cases through the gateway (batch priority); non-zero exit on any failure."""
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.smoke import results as results_file
    from sutazai.agents.smoke.report import counts, to_json, write_junit
    from sutazai.agents.smoke.runner import SmokeRunner, collect
    from sutazai.errors import Problem, UserError

    if record and replay:
        raise UserError(Problem("--record and --replay exclude each other"))
    if k is not None and not 1 <= k <= samples:
        raise UserError(Problem(f"--k must be between 1 and --samples ({samples}), not {k}"))
    if changed and base is None:
        raise UserError(Problem("--changed needs --base FILE: the results to compare with"))
    workspace = workspace_from(ctx)
    catalog = AgentCatalog.scan(workspace)
    suites = collect(workspace, agents or None, tag or None, catalog)
    hashes = results_file.case_hashes(suites, catalog, dict(workspace.settings.tiers))
    if changed and base is not None:
        suites = results_file.changed_only(suites, hashes, results_file.load(base, workspace.root))
        if not suites:
            if as_json:
                emit_json({**to_json([]), "rates": []})
            else:
                console.print("no case changed since the base results: nothing to run")
            return
    mode: Mode = "replay" if replay else "record" if record else "live"
    runner = SmokeRunner(workspace, mode, parallel, samples)
    if as_json:
        results = asyncio.run(runner.run(suites))
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            console=console,
            transient=False,
        ) as progress:
            bars = {
                s.agent.name: progress.add_task(s.agent.name, total=len(s.cases) * samples, failed="")
                for s in suites
            }

            def advance(result: object) -> None:
                from sutazai.agents.smoke.runner import CaseResult

                assert isinstance(result, CaseResult)
                task = bars[result.agent]
                if result.status in ("passed", "skipped"):
                    progress.update(task, advance=1)
                else:
                    progress.update(task, advance=1, failed=f"[red]{result.status}: {result.case}[/]")

            results = asyncio.run(runner.run(suites, advance))
        console.print(summary_table(results) if samples == 1 else rates_table(results, k))
    if junit:
        write_junit(results, junit)
    if out:
        results_file.write(out, results_file.document(workspace.root, suites, results, mode, samples, hashes))
    c = counts(results)
    if as_json:
        emit_json({**to_json(results), "rates": rates_json(results, k)})
    else:
        console.print(", ".join(f"{n} {label}" for label, n in c.items() if n) or "no cases")
    if c["unavailable"]:
        raise typer.Exit(EXIT_GATEWAY)
    if c["failed"] or c["stale"] or c["error"]:
        raise typer.Exit(EXIT_RUN_FAILED)
    if results and c["skipped"] == len(results):
        console.print("nothing ran: every case was skipped (see the reasons above)", style="red")
        raise typer.Exit(EXIT_RUN_FAILED)


def add(
    ctx: typer.Context,
    agent_name: Annotated[str, typer.Argument(metavar="AGENT", help="The agent the case is for.")],
    run_id: Annotated[str, typer.Option("--from-run", help="The recorded run to turn into a case.")],
    name: Annotated[str | None, typer.Option("--name", help="The new case's name.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Turn a recorded run into a smoke case and its cassette (expectations proposed: edit them)."""
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.smoke.from_run import add_from_run

    workspace = workspace_from(ctx)
    catalog = AgentCatalog.scan(workspace)
    agent = catalog.get(agent_name)
    settings = workspace.settings

    async def embed(texts: list[str]) -> list[list[float]]:  # only for runs that recalled memories
        async with GatewayClient.for_workspace(workspace, agent=agent.name) as client:
            return await client.embed(texts, settings.memory.embedding_model, agent=agent.name)

    added = asyncio.run(add_from_run(agent, RunStore(workspace.runs_db), run_id, name, embed, catalog.get))
    if as_json:
        emit_json(
            {
                "case": added.case.model_dump(exclude_none=True),
                "smoke_file": str(added.smoke_file),
                "cassette": str(added.cassette),
            }
        )
        return
    console.print(
        f"added case [bold]{added.case.name}[/] to {added.smoke_file} (expectations proposed: edit them)"
    )
    console.print(f"cassette: {added.cassette}; check it offline: sutazai smoke {agent.name} --replay")
    if added.fresh_cassette:
        console.print(
            "note: the agent changed since its cassette was recorded: other cases need --record again"
        )


COLOURS = {
    "passed": "green",
    "failed": "red",
    "stale": "yellow",
    "error": "red",
    "unavailable": "magenta",
    "skipped": "dim",
}


def summary_table(results: list[CaseResult]) -> Table:
    table = Table("agent", "case", "result", "ms", "tokens", "reason", box=None)
    for r in results:
        reason = escape("\n".join(r.reasons)) if r.reasons else ""
        table.add_row(
            escape(r.agent),
            escape(r.case),
            f"[{COLOURS[r.status]}]{r.status}[/]",
            f"{r.latency_ms:.0f}",
            str(r.prompt_tokens + r.completion_tokens),
            reason,
        )
    return table


def rates_table(results: list[CaseResult], k: int | None) -> Table:
    """Per case: passes of samples, the 95 % interval, pass@k, pass^k, and whether it is flaky;
    then each failing sample's first reason."""
    from sutazai.agents.smoke.results import summarize

    table = Table("agent", "case", "passed", "rate (95% CI)", "pass@k", "pass^k", "", box=None)
    for s in summarize(results, k):
        low, high = s.interval
        colour = "green" if s.passed == s.total and s.total else "red" if s.passed == 0 else "yellow"
        table.add_row(
            escape(s.agent),
            escape(s.case),
            f"[{colour}]{s.passed}/{s.total}[/]",
            f"{s.rate:.0%} ({low:.0%}-{high:.0%})",
            f"@{s.k} {s.pass_at_k:.2f}",
            f"^{s.k} {s.pass_hat_k:.2f}",
            "[yellow]flaky[/]" if s.flaky else "",
        )
    for r in results:
        if r.status != "passed":
            reason = escape(r.reasons[0].splitlines()[0]) if r.reasons else ""
            table.add_row(
                "", escape(f"{r.case} #{r.sample}"), f"[{COLOURS[r.status]}]{r.status}[/]", reason, "", "", ""
            )
    return table


def rates_json(results: list[CaseResult], k: int | None) -> list[dict[str, object]]:
    from sutazai.agents.smoke.results import summarize

    return [
        {
            "agent": s.agent,
            "case": s.case,
            "passed": s.passed,
            "samples": s.total,
            "rate": s.rate,
            "interval": list(s.interval),
            "k": s.k,
            "pass_at_k": s.pass_at_k,
            "pass_hat_k": s.pass_hat_k,
            "flaky": s.flaky,
        }
        for s in summarize(results, k)
    ]


def compare(
    ctx: typer.Context,
    base_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="BASE", help="Results of the unchanged fleet (`smoke --out`).", show_default=False
        ),
    ] = None,
    head_file: Annotated[
        Path | None, typer.Argument(metavar="HEAD", help="Results after the change.", show_default=False)
    ] = None,
    base_ref: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="A git ref instead of files: run the cases here and as of that ref (a temporary "
            "worktree), both live through this workspace's gateway, and compare.",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", "-n", min=1, help="Runs of each case, with --base.")
    ] = 5,
    agents: Annotated[
        list[str] | None, typer.Option("--agent", help="With --base: only these agents (default: all).")
    ] = None,
    level: Annotated[
        float, typer.Option("--level", min=0.0001, max=0.5, help="Significance level of 'worse'.")
    ] = 0.05,
    output_format: Annotated[
        str, typer.Option("--format", help="table, markdown (a pull-request comment) or json.")
    ] = "table",
) -> None:
    """Did this change make the fleet worse? Exit 1 only when a case got significantly worse.
    Compare two results files, or (``--base REF``) the working tree with a git ref."""
    from sutazai.agents.smoke import results as results_file
    from sutazai.errors import Problem, UserError

    if output_format not in ("table", "markdown", "json"):
        raise UserError(Problem(f"--format must be table, markdown or json, not {output_format!r}"))
    workspace = workspace_from(ctx)
    if base_ref is not None:
        if base_file is not None or head_file is not None:
            raise UserError(Problem("give --base GIT_REF or two results files, not both"))
        before, after = _base_and_head(workspace, base_ref, agents, samples)
    elif base_file is None or head_file is None:
        raise UserError(
            Problem(
                "compare needs BASE and HEAD results files, or --base GIT_REF",
                hint="sutazai smoke compare --help",
            )
        )
    else:
        before = results_file.load(base_file, workspace.root)
        after = results_file.load(head_file, workspace.root)
    changes = results_file.compare(before, after, level)
    worse = [c for c in changes if c.change == "worse"]
    if output_format == "json":
        emit_json({"level": level, "worse": len(worse), "cases": [_change_json(c) for c in changes]})
    elif output_format == "markdown":
        console.print(_change_markdown(changes, level), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(change_table(changes))
        console.print(verdict(changes, level), markup=False)
    if worse:
        raise typer.Exit(EXIT_RUN_FAILED)


def _base_and_head(
    workspace: Workspace, ref: str, agents: list[str] | None, samples: int
) -> tuple[ResultsFile, ResultsFile]:
    """Both sides run live now, head first, through the gateway of the workspace being changed."""
    from sutazai.agents.smoke.git_base import workspace_at

    head = _live_results(workspace, workspace, agents, samples, "working tree")
    with workspace_at(workspace.root, ref) as base_root:
        gateway = {"url": workspace.settings.gateway.url}
        base = Workspace(base_root, flags={"gateway": gateway})
        return _live_results(base, workspace, agents, samples, ref), head


def _live_results(
    workspace: Workspace, home: Workspace, agents: list[str] | None, samples: int, label: str
) -> ResultsFile:
    """Every sample of ``workspace``'s cases, as a results document of ``home`` (so the two sides
    compare); agents named but absent on this side are left out, as new or removed ones are."""
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.smoke import results as results_file
    from sutazai.agents.smoke.runner import SmokeRunner, collect

    catalog = AgentCatalog.scan(workspace)
    present = [a for a in agents if a in catalog.agents] if agents else None
    suites = collect(workspace, present, None, catalog)
    hashes = results_file.case_hashes(suites, catalog, dict(workspace.settings.tiers))
    err_console.print(
        f"running {sum(len(s.cases) for s in suites)} cases × {samples} ({label})", markup=False
    )
    results = asyncio.run(SmokeRunner(workspace, "live", 4, samples).run(suites))
    document = results_file.document(home.root, suites, results, "live", samples, hashes)
    return results_file.ResultsFile(Path(label), document)


def _change_json(c: CaseChange) -> dict[str, object]:
    from dataclasses import asdict

    return {
        "agent": c.agent,
        "case": c.case,
        "change": c.change,
        "significant": c.significant,
        "p_worse": c.p_worse,
        "p_better": c.p_better,
        "base": asdict(c.base) if c.base else None,
        "head": asdict(c.head) if c.head else None,
    }


def _change_markdown(changes: list[CaseChange], level: float) -> str:
    lines = ["| agent | case | base | head | change | p (worse) |", "| --- | --- | --- | --- | --- | --- |"]
    for c in changes:
        change = f"**{c.change}**" if c.significant else c.change
        lines.append(
            f"| {c.agent} | {c.case} | {rate(c.base)} | {rate(c.head)} | {change} | {c.p_worse:.3f} |"
        )
    worse = sum(c.change == "worse" for c in changes)
    lines.append("")
    lines.append(f"{worse} case(s) significantly worse at level {level:g}.")
    return "\n".join(lines)


def merge(
    ctx: typer.Context,
    parts: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Results files of one run's shards.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The merged results file.")],
) -> None:
    """Join the results files of one run's shards (CI machines, pytest-xdist workers) into one."""
    from sutazai.agents.smoke import results as results_file

    workspace = workspace_from(ctx)
    loaded = [results_file.load(part, workspace.root) for part in parts]
    merged = results_file.merge(loaded)
    results_file.write(out, merged)
    samples = sum(len(case["samples"]) for case in merged["cases"])
    console.print(f"{len(merged['cases'])} cases, {samples} samples from {len(parts)} files → {out}")


smoke_app = group_with_default(
    "Smoke tests before deploy: `sutazai smoke [AGENTS]` runs them (--samples N for pass rates, "
    "--out FILE to keep the results), `sutazai smoke add` adds one, `sutazai smoke compare BASE HEAD` "
    "says whether a change made the fleet worse, `sutazai smoke merge` joins shards' results.",
    ("run", smoke),
    ("add", add),
    ("compare", compare),
    ("merge", merge),
)


def register(app: typer.Typer) -> None:
    app.add_typer(smoke_app, name="smoke")
