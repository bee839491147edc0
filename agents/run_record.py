"""A recorded run as every front end reads it: a typed step union and a run view with its children.

The run store keeps each step as ``kind`` + JSON ``data`` (so old files stay readable); this module
is the one place that knows what each kind holds. ``sutazai show``, ``fleet run``, the TUI's Traces
pane and compare screen render :class:`RunView`; ``--json``, MCP ``read_trace`` and ``runs export``
write :meth:`RunView.to_json`, one shape everywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from sutazai.agents.runstore import RunRecord, RunStore, StepRecord

DELEGATION_PREFIX = "ask_"  # see delegation.tool_name


@dataclass(frozen=True, kw_only=True)
class StepBase:
    kind: ClassVar[str]
    seq: int
    started_at: float
    duration_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    record: StepRecord = field(repr=False, compare=False)  # as stored: the JSON shape

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def summary(self) -> str:
        """One line for a table row: the error, else what the step holds."""
        return self.error or self.line

    @property
    def line(self) -> str:
        return ""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # as the model wrote them (JSON text)
    id: str | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ToolCall:
        if "function" in raw:  # an OpenAI message's tool call
            raw = {"id": raw.get("id"), **raw["function"]}
        arguments = raw.get("arguments")
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return cls(str(raw.get("name") or ""), text, raw.get("id"))

    def __str__(self) -> str:
        return f"→ {self.name}({self.arguments})"


def said(text: str, calls: tuple[ToolCall, ...]) -> str:
    return " ".join(filter(None, [text, *map(str, calls)]))


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Message:
        calls = tuple(ToolCall.of(c) for c in raw.get("tool_calls") or [])
        return cls(str(raw.get("role") or ""), str(raw.get("content") or ""), calls)

    @property
    def text(self) -> str:
        """What a reader sees: the text, or the tool calls an assistant made instead."""
        return said(self.content, self.tool_calls)


@dataclass(frozen=True, kw_only=True)
class LlmStep(StepBase):
    kind: ClassVar[str] = "llm"
    model: str
    messages: tuple[Message, ...]
    response: str
    tool_calls: tuple[ToolCall, ...]

    @property
    def answer(self) -> str:
        """The answer as read: its text, or the tool calls it made (an empty text is never shown)."""
        return said(self.response, self.tool_calls)

    @property
    def line(self) -> str:
        return self.answer


@dataclass(frozen=True, kw_only=True)
class ToolStep(StepBase):
    kind: ClassVar[str] = "tool"
    tool: str
    arguments: Any
    result: str

    @property
    def call(self) -> str:
        return f"{self.tool}({json.dumps(self.arguments, ensure_ascii=False)}) → {self.result}"

    @property
    def line(self) -> str:
        return self.call


@dataclass(frozen=True, kw_only=True)
class DelegationStep(ToolStep):
    """A tool call that ran another agent: its answer is a child run (``RunView.children``)."""

    kind: ClassVar[str] = "delegation"

    @property
    def agent(self) -> str:
        return self.tool.removeprefix(DELEGATION_PREFIX).replace("_", "-")


@dataclass(frozen=True)
class MemoryHit:
    text: str
    score: float


@dataclass(frozen=True, kw_only=True)
class MemoryStep(StepBase):
    kind: ClassVar[str] = "memory"
    query: str
    hits: tuple[MemoryHit, ...]

    @property
    def line(self) -> str:
        return f"{len(self.hits)} memories for {self.query!r}"


@dataclass(frozen=True, kw_only=True)
class BackoffStep(StepBase):
    kind: ClassVar[str] = "backoff"
    status: int | None
    wait_s: float
    message: str

    @property
    def line(self) -> str:
        return f"gateway {self.status}: waited {self.wait_s:g} s ({self.message})"


@dataclass(frozen=True, kw_only=True)
class EntrypointStep(StepBase):
    kind: ClassVar[str] = "entrypoint"
    entrypoint: str
    input: str
    response: str

    @property
    def line(self) -> str:
        return self.response


@dataclass(frozen=True, kw_only=True)
class ErrorStep(StepBase):
    kind: ClassVar[str] = "error"
    status: str


@dataclass(frozen=True, kw_only=True)
class OtherStep(StepBase):
    """A kind this version does not know (a newer writer): shown as its data."""

    kind: ClassVar[str] = "other"
    data: dict[str, Any]

    @property
    def line(self) -> str:
        return json.dumps(self.data, ensure_ascii=False)


Step = LlmStep | ToolStep | DelegationStep | MemoryStep | BackoffStep | EntrypointStep | ErrorStep | OtherStep


def step_of(record: StepRecord) -> Step:
    """The typed step of a stored one; unknown kinds and malformed data never raise."""
    base: dict[str, Any] = {
        "seq": record.seq,
        "started_at": record.started_at,
        "duration_ms": record.duration_ms,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "error": record.error,
        "record": record,
    }
    data = record.data if isinstance(record.data, dict) else {}
    try:
        if record.kind == "llm":
            return LlmStep(
                **base,
                model=str(data.get("model") or ""),
                messages=tuple(Message.of(m) for m in data.get("messages") or [] if isinstance(m, dict)),
                response=str(data.get("response") or ""),
                tool_calls=tuple(ToolCall.of(c) for c in data.get("tool_calls") or [] if isinstance(c, dict)),
            )
        if record.kind == "tool":
            tool = str(data.get("tool") or "")
            kind = DelegationStep if tool.startswith(DELEGATION_PREFIX) else ToolStep
            return kind(
                **base, tool=tool, arguments=data.get("arguments"), result=str(data.get("result") or "")
            )
        if record.kind == "memory":
            hits = tuple(
                MemoryHit(str(h.get("text", "")), float(h.get("score", 0.0))) for h in data.get("hits") or []
            )
            return MemoryStep(**base, query=str(data.get("query") or ""), hits=hits)
        if record.kind == "backoff":
            status = data.get("status")
            return BackoffStep(
                **base,
                status=int(status) if isinstance(status, int) else None,
                wait_s=float(data.get("wait_s") or 0.0),
                message=str(data.get("message") or ""),
            )
        if record.kind == "entrypoint":
            return EntrypointStep(
                **base,
                entrypoint=str(data.get("entrypoint") or ""),
                input=str(data.get("input") or ""),
                response=str(data.get("response") or ""),
            )
        if record.kind == "error":
            return ErrorStep(**base, status=str(data.get("status") or "error"))
    except (TypeError, ValueError, AttributeError):
        pass
    return OtherStep(**base, data=data)


@dataclass(frozen=True)
class RunView:
    """A run with its steps and the runs it delegated to, each a view of its own."""

    run: RunRecord
    steps: tuple[Step, ...]
    children: tuple[RunView, ...]

    @property
    def tokens(self) -> int:
        return self.run.prompt_tokens + self.run.completion_tokens

    def to_json(self) -> dict[str, Any]:
        """The one JSON shape of a run: its record, its steps as stored, its children likewise."""
        return {
            **asdict(self.run),
            "steps": [asdict(s.record) for s in self.steps],
            "children": [c.to_json() for c in self.children],
        }

    def walk(self) -> list[tuple[int, RunView]]:
        """This run and every run below it, depth first, with their depth (0 for this one)."""
        out: list[tuple[int, RunView]] = [(0, self)]
        for child in self.children:
            out += [(depth + 1, view) for depth, view in child.walk()]
        return out


def run_view(store: RunStore, run: RunRecord, steps: bool = True) -> RunView:
    """``run`` read from ``store`` with its children (and everyone's steps unless ``steps=False``)."""
    return RunView(
        run,
        tuple(step_of(s) for s in store.steps(run.id)) if steps else (),
        tuple(run_view(store, child, steps) for child in store.children(run.id)),
    )
