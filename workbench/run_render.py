"""How a run reads on a screen, once for every front end: ``sutazai show``, ``fleet run``, the TUI's
Traces pane and compare screen all print these rich renderables. Text is built as ``Text``, never
as markup, so whatever an agent wrote (``[brackets]`` included) shows as written."""

from __future__ import annotations

import datetime as dt
import json

from rich.console import Group, RenderableType
from rich.text import Text

from sutazai.agents.run_record import (
    BackoffStep,
    DebugStep,
    DelegationStep,
    EntrypointStep,
    ErrorStep,
    LlmStep,
    MemoryStep,
    OtherStep,
    RunView,
    Step,
    ToolStep,
)
from sutazai.agents.runstore import RunRecord

MESSAGE_CHARS = 1000  # a long system prompt is cut in a trace; the JSON keeps it whole


def when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M:%S")


def _labelled(label: str, text: str, style: str = "bold") -> Text:
    line = Text("  ")
    line.append(f"{label}: ", style=style)
    line.append(text)
    return line


def step_head(step: Step) -> Text:
    head = Text(f"#{step.seq} {step.kind}", style="bold")
    head.append(f" {step.duration_ms:.1f} ms")
    if step.tokens:
        head.append(f" · {step.prompt_tokens}+{step.completion_tokens} tokens")
    return head


def step_body(step: Step) -> list[Text]:
    if isinstance(step, LlmStep):
        lines = [_labelled(m.role, m.text[:MESSAGE_CHARS], "dim") for m in step.messages]
        return [*lines, _labelled("response", step.answer, "green")]
    if isinstance(step, DelegationStep):
        return [Text(f"  asked {step.agent}: {step.call_text}")]
    if isinstance(step, ToolStep):
        return [Text(f"  {step.call_text}")]
    if isinstance(step, MemoryStep):
        return [Text(f"  {hit.score:.2f} {hit.text[:200]}") for hit in step.hits] or [Text("  no memories")]
    if isinstance(step, EntrypointStep):
        return [_labelled("input", step.input), _labelled("response", step.response, "green")]
    if isinstance(step, BackoffStep | DebugStep):
        return [Text(f"  {step.line}", style="yellow" if isinstance(step, DebugStep) and step.edits else "")]
    if isinstance(step, ErrorStep):
        return [Text(f"  run ended: {step.status}")]
    assert isinstance(step, OtherStep)
    return [Text(f"  {json.dumps(step.raw, ensure_ascii=False)[:400]}")]


def render_step(step: Step) -> Text:
    """One step: its head (kind, time, tokens), what it holds, and its error."""
    lines = [step_head(step), *step_body(step)]
    if step.error:
        lines.append(Text(f"  error: {step.error}", style="red"))
    return Text("\n").join(lines)


def child_label(view: RunView) -> Text:
    run = view.run
    ms = f"{run.duration_ms:.0f} ms" if run.duration_ms is not None else "running"
    return Text(
        f"step #{run.parent_step} → {run.agent} run {run.id} · {run.status} · {view.tokens} tokens · {ms}"
    )


def tree_lines(view: RunView) -> list[Text]:
    """The delegation tree under a run, one line a child run, indented by depth."""
    return [Text("  " * depth + "└ ").append_text(child_label(v)) for depth, v in view.walk()[1:]]


def run_head(run: RunRecord) -> Text:
    head = Text(f"run {run.id}", style="bold")
    head.append(f" · {run.agent} · {run.model} · {run.status} · {when(run.started_at)}")
    head.append(f" · {run.prompt_tokens}+{run.completion_tokens} tokens")
    if run.parent_run:
        head.append(f"\ndelegated by run {run.parent_run}, step #{run.parent_step}", style="dim")
    return head


def render_run(view: RunView) -> RenderableType:
    """A whole run: head, the runs it delegated to, input, every step, then output or error."""
    run = view.run
    parts: list[RenderableType] = [run_head(run), *tree_lines(view)]
    parts.append(Text("input: ", style="bold").append(run.input))
    parts += [render_step(s) for s in view.steps]
    if run.output:
        parts.append(Text("\noutput: ", style="bold").append(run.output))
    if run.error:
        parts.append(Text(f"\nerror: {run.error}", style="red"))
    return Group(*parts)
