"""``sutazai plan``: slots, context, replicas and Ollama settings for a fleet on this machine, with
the throughput and interactive TTFT to expect, and (``--check``) what a measured run gave."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.output import console, emit_json

if TYPE_CHECKING:
    from sutazai.stack.plan import Fleet, Machine, Plan
    from sutazai.stack.plan_check import Measured

TOLERANCE = 0.25  # how far a measured figure may be from the prediction and still agree


def _reserved_interactive(ctx: typer.Context) -> int:
    """``[stack] reserved_interactive`` of the workspace the plan is for; the default outside one."""
    from sutazai.config import StackSettings
    from sutazai.errors import WorkspaceNotFound

    try:
        return workspace_from(ctx).settings.stack.reserved_interactive
    except WorkspaceNotFound:
        return StackSettings().reserved_interactive


def _fleet(
    ctx: typer.Context, fleet_file: Path | None, agents: int | None, prompt: int, output: int, rpm: float
) -> Fleet:
    from sutazai.stack.plan import AgentGroup, Fleet, load_fleet

    if fleet_file is not None:
        return load_fleet(fleet_file)
    if agents is None:
        from sutazai.agents.loader import AgentCatalog

        agents = max(1, len(AgentCatalog.scan(workspace_from(ctx)).agents))
    return Fleet(
        groups=[
            AgentGroup(
                name="fleet",
                agents=agents,
                prompt_tokens=prompt,
                output_tokens=output,
                requests_per_minute=rpm,
            ),
            AgentGroup(
                name="developer",
                agents=1,
                priority="interactive",
                prompt_tokens=prompt,
                output_tokens=output,
                requests_per_minute=6,
            ),
        ]
    )


def plan_command(
    ctx: typer.Context,
    fleet_file: Annotated[
        Path | None, typer.Option("--fleet", help="A fleet file: [[group]] agents, priority, tokens, rpm.")
    ] = None,
    agents: Annotated[int | None, typer.Option(help="Agents (default: the workspace's).")] = None,
    prompt_tokens: Annotated[int, typer.Option(help="Prompt tokens a request.")] = 300,
    output_tokens: Annotated[int, typer.Option(help="Output tokens a request.")] = 64,
    rpm: Annotated[float, typer.Option(help="Requests a minute, per agent.")] = 1.0,
    model_file: Annotated[
        Path | None, typer.Option(help="The model's GGUF (default: the embedded SmolLM2-135M).")
    ] = None,
    context: Annotated[int, typer.Option(help="The model's trained context.")] = 8192,
    ttft_target: Annotated[
        float,
        typer.Option(help="Seconds more slots may add to an interactive first token (prefill + a step)."),
    ] = 2.0,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Measure the engine's speeds through the gateway first.")
    ] = False,
    check: Annotated[
        float, typer.Option(help="Then run the fleet for this many seconds and compare (0: do not).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recommend slots, context per slot, replicas and Ollama settings; predict throughput and TTFT."""
    from sutazai.errors import Problem, UserError
    from sutazai.stack.embedded import find_model
    from sutazai.stack.gateway.config import MODEL_ALIAS
    from sutazai.stack.plan import Machine, plan

    fleet = _fleet(ctx, fleet_file, agents, prompt_tokens, output_tokens, rpm)
    model = model_file or find_model()
    if model is None or not model.is_file():
        raise UserError(Problem("no model file to plan for", hint="pass --model-file PATH (a GGUF)"))
    machine = Machine.this_one()
    size = model.stat().st_size
    held = _reserved_interactive(ctx)
    result = plan(
        fleet,
        machine,
        model_bytes=size,
        model_context=context,
        ttft_target_s=ttft_target,
        reserved_interactive=held,
    )
    measured: Measured | None = None
    if calibrate or check:
        workspace = workspace_from(ctx)
        url, token = workspace.settings.gateway.url, workspace.gateway_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        from sutazai.stack.plan_check import calibrate as measure_speed
        from sutazai.stack.plan_check import run_fleet

        if calibrate:
            speed = asyncio.run(
                measure_speed(
                    url,
                    MODEL_ALIAS,
                    result.slots,
                    headers,
                    prompt_tokens=round(fleet.mean("prompt_tokens")),
                    output_tokens=round(fleet.mean("output_tokens")),
                    reserved_interactive=held,
                )
            )
            result = plan(
                fleet,
                machine,
                model_bytes=size,
                model_context=context,
                speed=speed,
                ttft_target_s=ttft_target,
                reserved_interactive=held,
            )
        if check:
            measured = asyncio.run(run_fleet(url, MODEL_ALIAS, fleet, check, headers))
    if as_json:
        emit_json(_as_json(result, measured))
        return
    _print(result, machine, model, measured)


def _as_json(result: Plan, measured: Measured | None) -> dict[str, object]:
    from dataclasses import asdict

    out: dict[str, object] = {**asdict(result), "interactive_ttft_s": result.interactive_ttft_s}
    if measured is not None:
        out["measured"] = {
            "tokens_per_s": measured.tokens_per_s,
            "interactive_ttft_s": measured.ttft_mean_s,
            "interactive_ttft_median_s": measured.ttft_median_s,
            "requests": measured.requests,
            "errors": measured.errors,
            "prompt_tokens_mean": measured.prompt_tokens / max(measured.requests, 1),
        }
    return out


def _agrees(predicted: float, measured: float) -> str:
    if measured != measured or not predicted:  # nan: nothing measured
        return "not measured"
    error = measured / predicted - 1
    return f"{error:+.0%} {'(within 25%)' if abs(error) <= TOLERANCE else '(OFF by more than 25%)'}"


def _print(result: Plan, machine: Machine, model: Path, measured: Measured | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(
        f"machine: {machine.cores} cores, {machine.ram_bytes / 2**30:.1f} GiB; model {model.name} "
        f"({model.stat().st_size / 2**20:.0f} MiB); speeds: {result.speed.source}"
    )
    advice = Table("recommendation", "value", title="plan")
    advice.add_row(escape("[stack] parallel (slots)"), str(result.slots))
    advice.add_row("context per slot (tokens)", str(result.ctx_per_slot))
    advice.add_row("KV cache for all slots", f"{result.kv_bytes / 2**20:.0f} MiB")
    advice.add_row(escape("[stack] replicas on this machine"), str(result.replicas))
    advice.add_row("machines for the whole demand", str(result.machines))
    for key, value in result.ollama.items():
        advice.add_row(escape(f"Ollama {key}"), value)
    console.print(advice)
    prediction = Table("figure", "predicted", "measured", "measured vs predicted", title="prediction")
    m_rate = f"{measured.tokens_per_s:.1f}" if measured else "-"
    m_ttft = f"{measured.ttft_mean_s:.2f} s" if measured and measured.ttft_s else "-"
    prediction.add_row("demand, output tokens/s", f"{result.demand_tokens_per_s:.1f}", "", "")
    prediction.add_row("capacity, output tokens/s", f"{result.capacity_tokens_per_s:.1f}", "", "")
    prediction.add_row(
        "throughput, output tokens/s",
        f"{result.throughput_tokens_per_s:.1f}",
        m_rate,
        _agrees(result.throughput_tokens_per_s, measured.tokens_per_s) if measured else "",
    )
    prediction.add_row(
        "interactive time to first token (mean)",
        f"{result.interactive_ttft_s:.2f} s",
        m_ttft,
        _agrees(result.interactive_ttft_s, measured.ttft_mean_s) if measured else "",
    )
    parts = result.interactive
    prediction.add_row("  waiting for a slot", f"{parts.slot_wait_s:.2f} s", "", "")
    prediction.add_row("  others' prompts finishing", f"{parts.others_prefill_s:.2f} s", "", "")
    prediction.add_row("  its own prompt", f"{parts.own_s:.2f} s", "", "")
    console.print(prediction)
    if measured is not None:
        console.print(
            f"measured: {measured.requests} requests in {measured.seconds:g} s, {measured.errors} errors, "
            f"{measured.prompt_tokens / max(measured.requests, 1):.0f} prompt tokens a request"
        )
    for note in result.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)  # notes name `[stack]` keys


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
