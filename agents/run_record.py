"""A recorded run: a typed step union that the runtime writes and every front end reads, and a run
view with its children.

The run store keeps each step as ``kind`` + JSON ``data`` (so old files stay readable); this module
is the one place that knows what each kind holds: :meth:`data` writes it, :func:`step_of` reads it
back. ``sutazai show``, ``fleet run``, the TUI's Traces pane and compare screen render
:class:`RunView`; ``--json``, MCP ``read_trace`` and ``runs export`` write :meth:`RunView.to_json`,
one shape everywhere; ``smoke add --from-run`` reads the same typed steps.
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
    started_at: float
    duration_ms: float
    seq: int = 0  # given by the run when the step is written
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    record: StepRecord | None = field(default=None, repr=False, compare=False)  # as read from the store

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

    def data(self) -> dict[str, Any]:
        """What the store keeps for this kind (besides the columns every step has)."""
        return {}


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

    @property
    def parsed(self) -> Any:
        """The arguments as JSON values (the text itself when the model wrote no valid JSON)."""
        try:
            return json.loads(self.arguments) if self.arguments else {}
        except json.JSONDecodeError:
            return self.arguments

    def openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def said(text: str, calls: tuple[ToolCall, ...]) -> str:
    return " ".join(filter(None, [text, *map(str, calls)]))


@dataclass(frozen=True)
class Message:
    """A chat message as the runtime sends it (OpenAI's shape): :meth:`to_json` gives it back."""

    role: str
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Message:
        calls = tuple(ToolCall.of(c) for c in raw.get("tool_calls") or [])
        content = raw.get("content")
        call_id = raw.get("tool_call_id")
        return cls(
            str(raw.get("role") or ""),
            None if content is None else str(content),
            calls,
            None if call_id is None else str(call_id),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        out["content"] = self.content
        if self.tool_calls:
            out["tool_calls"] = [c.openai() for c in self.tool_calls]
        return out

    @property
    def text(self) -> str:
        """What a reader sees: the text, or the tool calls an assistant made instead."""
        return said(self.content or "", self.tool_calls)


@dataclass(frozen=True, kw_only=True)
class LlmStep(StepBase):
    kind: ClassVar[str] = "llm"
    model: str
    messages: tuple[Message, ...]
    response: str
    tool_calls: tuple[ToolCall, ...]
    native_tools: bool = False  # standard tool calls (else the TOOL: text protocol)
    tool_choice: str | None = None  # "required" on a first call that had to call a tool
    exchange_key: str | None = None  # the cassette key of this exchange (smoke add --from-run)
    first_token_ms: float | None = None

    @property
    def answer(self) -> str:
        """The answer as read: its text, or the tool calls it made (an empty text is never shown)."""
        return said(self.response, self.tool_calls)

    @property
    def line(self) -> str:
        return self.answer

    def data(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [m.to_json() for m in self.messages],
            "response": self.response,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.parsed} for c in self.tool_calls],
            "native_tools": self.native_tools,
            **({"tool_choice": self.tool_choice} if self.tool_choice else {}),
            "exchange_key": self.exchange_key,
            "first_token_ms": self.first_token_ms,
        }


@dataclass(frozen=True, kw_only=True)
class ToolStep(StepBase):
    kind: ClassVar[str] = "tool"
    tool: str
    arguments: Any
    result: str
    call: str = ""  # how the model asked: "native", "text", or "framework" (a framework's own tool)
    valid: bool = True  # a known tool with arguments that match its schema
    problems: tuple[str, ...] = ()  # where they did not
    remote: dict[str, Any] | None = None  # an A2A delegate's call: its URL, task id, run id, trace id

    @property
    def call_text(self) -> str:
        return f"{self.tool}({json.dumps(self.arguments, ensure_ascii=False)}) → {self.result}"

    @property
    def line(self) -> str:
        return self.call_text

    def data(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "arguments": self.arguments,
            "call": self.call,
            "valid": self.valid,
            "problems": list(self.problems),
            "result": self.result,
            **({"remote": self.remote} if self.remote else {}),
        }


@dataclass(frozen=True, kw_only=True)
class DelegationStep(ToolStep):
    """A tool call that ran another agent: its answer is a child run (``RunView.children``). Stored
    as a ``tool`` step (so older readers show it as one); its ``ask_`` name makes it a delegation."""

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

    def data(self) -> dict[str, Any]:
        return {"query": self.query, "hits": [{"text": h.text, "score": h.score} for h in self.hits]}


@dataclass(frozen=True, kw_only=True)
class BackoffStep(StepBase):
    kind: ClassVar[str] = "backoff"
    status: int | None
    wait_s: float
    message: str

    @property
    def line(self) -> str:
        return f"gateway {self.status}: waited {self.wait_s:g} s ({self.message})"

    def data(self) -> dict[str, Any]:
        return {"status": self.status, "wait_s": round(self.wait_s, 3), "message": self.message}


@dataclass(frozen=True, kw_only=True)
class EntrypointStep(StepBase):
    kind: ClassVar[str] = "entrypoint"
    entrypoint: str
    input: str
    response: str

    @property
    def line(self) -> str:
        return self.response

    def data(self) -> dict[str, Any]:
        return {"entrypoint": self.entrypoint, "input": self.input, "response": self.response}


@dataclass(frozen=True, kw_only=True)
class ErrorStep(StepBase):
    kind: ClassVar[str] = "error"
    status: str

    def data(self) -> dict[str, Any]:
        return {"status": self.status}


@dataclass(frozen=True, kw_only=True)
class DebugStep(StepBase):
    """A pause under the debugger: where, why, for how long, and each edit made before going on."""

    kind: ClassVar[str] = "debug"
    point: str  # model | answer | tool | delegation | error
    reason: str  # breakpoint | step | entry | exception
    edits: tuple[str, ...] = ()  # "arguments.expression: '2**8' -> '2**10'"

    @property
    def line(self) -> str:
        edited = f"; edited {', '.join(self.edits)}" if self.edits else ""
        return f"paused before {self.point} ({self.reason}) {self.duration_ms / 1000:.1f} s{edited}"

    def data(self) -> dict[str, Any]:
        return {"point": self.point, "reason": self.reason, "edits": list(self.edits)}


@dataclass(frozen=True, kw_only=True)
class OtherStep(StepBase):
    """A kind this version does not know (a newer writer): shown as its data."""

    kind: ClassVar[str] = "other"
    raw: dict[str, Any]

    @property
    def line(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False)

    def data(self) -> dict[str, Any]:
        return self.raw


Step = (
    LlmStep
    | ToolStep
    | DelegationStep
    | MemoryStep
    | BackoffStep
    | EntrypointStep
    | ErrorStep
    | DebugStep
    | OtherStep
)


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
                native_tools=bool(data.get("native_tools")),
                tool_choice=_str_or_none(data.get("tool_choice")),
                exchange_key=_str_or_none(data.get("exchange_key")),
                first_token_ms=_float_or_none(data.get("first_token_ms")),
            )
        if record.kind == "tool":
            tool = str(data.get("tool") or "")
            kind = DelegationStep if tool.startswith(DELEGATION_PREFIX) else ToolStep
            return kind(
                **base,
                tool=tool,
                arguments=data.get("arguments"),
                result=str(data.get("result") or ""),
                call=str(data.get("call") or ""),
                valid=bool(data.get("valid", True)),
                problems=tuple(str(p) for p in data.get("problems") or []),
                remote=data["remote"] if isinstance(data.get("remote"), dict) else None,
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
        if record.kind == "debug":
            edits = tuple(str(e) for e in data.get("edits") or ())
            point, reason = str(data.get("point") or ""), str(data.get("reason") or "")
            return DebugStep(**base, point=point, reason=reason, edits=edits)
    except (TypeError, ValueError, AttributeError):
        pass
    return OtherStep(**base, raw=data)


def tool_step(**fields: Any) -> ToolStep:
    """A tool call's step: a delegation when the tool is another agent (``ask_<agent>``)."""
    kind = DelegationStep if str(fields["tool"]).startswith(DELEGATION_PREFIX) else ToolStep
    return kind(**fields)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


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
            "steps": [asdict(s.record) for s in self.steps if s.record is not None],
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
