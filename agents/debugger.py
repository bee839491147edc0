"""The debug engine: a run pauses before a model call, after an answer, before a tool call or a
delegation, or on an error, and goes on when told; what is paused can be edited first.

The runtime asks :meth:`Debugger.checkpoint` at each of those points when a debugger is attached
(``AgentRuntime.debugger``; none by default, so a run that is not debugged pays one ``is None``
test a point). A pause happens between gateway calls, so a paused run holds no engine slot, and
its deadline (and its ancestors', which wait on it) moves on by the time it was paused, so it never
times out for being looked at. Every pause and its edits become a ``debug`` step of the run.

Front ends (the DAP adapter, the TUI) drive it through :meth:`resume` and read :attr:`paused`;
they learn of a stop through the ``on_stop`` callback.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sutazai.agents import protocol
from sutazai.agents.breakpoints import Breakpoint, BreakpointTable, HitContext
from sutazai.agents.run_record import DebugStep

Point = Literal["model", "answer", "tool", "delegation", "error"]
POINTS: tuple[Point, ...] = ("model", "answer", "tool", "delegation", "error")
Action = Literal["continue", "next", "stepIn", "stepOut", "cancel"]
MAX_SHOWN = 60  # characters of a value in an edit's description


@dataclass
class Pause:
    """A run stopped at a point: what it is about to do, editable in place until it goes on."""

    run_id: str
    agent: str
    point: Point
    reason: str  # breakpoint | step | entry | exception
    data: dict[str, Any]  # the pending request, answer, or tool call (see the runtime)
    parent_run: str | None
    iteration: int
    breakpoint: Breakpoint | None = None
    started: float = field(default_factory=time.monotonic)
    original: dict[str, Any] = field(default_factory=dict)
    resumed: asyncio.Future[Action] | None = None

    def edits(self) -> tuple[str, ...]:
        """What changed between the stop and going on, one line a changed value."""
        return tuple(_diff(self.original, self.data, ""))


@dataclass
class RunEntry:
    """What the debugger knows of a run it has seen: to move its deadline, and its parent's."""

    run_id: str
    agent: str
    parent_run: str | None
    extend: Callable[[float], None]
    record: Callable[[DebugStep], None]


class RunCancelled(Exception):
    """The debugging client left (or asked) while the run was paused: the run ends, recorded."""


@dataclass
class Debugger:
    on_stop: Callable[[Pause], Awaitable[None] | None] | None = None
    on_output: Callable[[str], None] | None = None  # log points
    stop_on_entry: bool = False
    workspace_root: Path | None = None  # where agent folders are, for front ends showing sources
    kinds: set[Point] = field(default_factory=set)  # pause at every point of these kinds
    breakpoints: BreakpointTable = field(default_factory=BreakpointTable)
    paused: dict[str, Pause] = field(default_factory=dict)
    runs: dict[str, RunEntry] = field(default_factory=dict)
    _stepping: dict[str, Action] = field(default_factory=dict)  # run -> how it was resumed
    _into_child_of: set[str] = field(default_factory=set)  # stop in the next child of these runs
    _out_to: set[str] = field(default_factory=set)  # stop at the next point of these runs
    _seen: set[str] = field(default_factory=set)  # runs that passed a point (for stop-on-entry)

    def track(self, entry: RunEntry) -> None:
        self.runs[entry.run_id] = entry

    def forget(self, run_id: str) -> None:
        self.runs.pop(run_id, None)
        self._stepping.pop(run_id, None)
        self._into_child_of.discard(run_id)
        self._out_to.discard(run_id)

    async def checkpoint(self, run_id: str, point: Point, data: dict[str, Any], iteration: int = 0) -> None:
        """Pause here if a breakpoint, a kind or stepping says so; edits land in ``data``."""
        entry = self.runs.get(run_id)
        if entry is None:
            return
        reason, hit = self._should_stop(entry, point, data, iteration)
        if reason is None:
            return
        pause = Pause(run_id, entry.agent, point, reason, data, entry.parent_run, iteration, hit)
        pause.original = copy.deepcopy(data)
        pause.resumed = asyncio.get_running_loop().create_future()
        self.paused[run_id] = pause
        try:
            if self.on_stop is not None:
                notified = self.on_stop(pause)
                if notified is not None:
                    await notified
            action = await pause.resumed
        finally:
            self.paused.pop(run_id, None)
            paused_s = time.monotonic() - pause.started
            self._extend(entry, paused_s)
            entry.record(
                DebugStep(
                    started_at=time.time() - paused_s,
                    duration_ms=paused_s * 1000,
                    point=point,
                    reason=reason,
                    edits=pause.edits(),
                )
            )
        if action == "cancel":
            raise RunCancelled(f"cancelled by the debugger while paused before {point}")
        if action == "stepIn" and point == "delegation":  # the stepping goes down into the child
            self._into_child_of.add(run_id)
            action = "continue"
        self._stepping[run_id] = action
        if action == "stepOut" and entry.parent_run is not None:
            self._out_to.add(entry.parent_run)

    def pause_at_next(self, run_id: str) -> None:
        """Stop that run at its next point (a pause request: a run is never stopped mid-call)."""
        self._stepping[run_id] = "next"

    def resume(self, run_id: str, action: Action = "continue") -> bool:
        pause = self.paused.get(run_id)
        if pause is None or pause.resumed is None or pause.resumed.done():
            return False
        pause.resumed.set_result(action)
        return True

    def resume_all(self, action: Action = "continue") -> None:
        for run_id in list(self.paused):
            self.resume(run_id, action)

    def _should_stop(
        self, entry: RunEntry, point: Point, data: dict[str, Any], iteration: int
    ) -> tuple[str | None, Breakpoint | None]:
        run_id = entry.run_id
        stepping = self._stepping.pop(run_id, None)
        if self.stop_on_entry and stepping is None and entry.parent_run is None and run_id not in self._seen:
            self._seen.add(run_id)
            return "entry", None
        self._seen.add(run_id)
        if entry.parent_run is not None and entry.parent_run in self._into_child_of and stepping is None:
            self._into_child_of.discard(entry.parent_run)
            return "step", None
        if run_id in self._out_to:
            self._out_to.discard(run_id)
            return "step", None
        if stepping in ("next", "stepIn"):
            return "step", None
        if point == "error" and "error" in self.kinds:
            return "exception", None
        context = HitContext(entry.agent, point, data, iteration)
        hit = self.breakpoints.hit(context, self._log)
        if hit is not None:
            return "breakpoint", hit
        if point in self.kinds and point != "error":
            return "breakpoint", None
        return None, None

    def _log(self, message: str) -> None:
        if self.on_output is not None:
            self.on_output(message)

    def _extend(self, entry: RunEntry, seconds: float) -> None:
        """The paused run's deadline moves on, and so do its ancestors' (they wait on it)."""
        seen: set[str] = set()
        current: RunEntry | None = entry
        while current is not None and current.run_id not in seen:
            seen.add(current.run_id)
            current.extend(seconds)
            current = self.runs.get(current.parent_run) if current.parent_run else None


# --- the runtime's points: what is pending at each, and what it uses after ------------------------


async def debug_request(
    debugger: Debugger, run_id: str, messages: list[dict[str, Any]], tools: list[str], iteration: int
) -> list[dict[str, Any]]:
    """Before a model call: the messages as they are sent (edited, or replaced whole)."""
    pending: dict[str, Any] = {"messages": messages, "tools": tools}
    await debugger.checkpoint(run_id, "model", pending, iteration)
    edited = pending.get("messages")
    return edited if isinstance(edited, list) and all(isinstance(m, dict) for m in edited) else messages


async def debug_answer(
    debugger: Debugger, run_id: str, content: str, call: protocol.ParsedCall | None, iteration: int
) -> tuple[str, protocol.ParsedCall | None]:
    """After a model answer: its text and the call it makes, as edited."""
    asked = {"name": call.name, "arguments": dict(call.arguments)} if call else None
    answer: dict[str, Any] = {"content": content, "tool_call": asked}
    await debugger.checkpoint(run_id, "answer", answer, iteration)
    edited = answer.get("tool_call")
    text = str(answer.get("content") or "")
    if call is None or not isinstance(edited, dict):
        return text, call
    arguments = edited.get("arguments")
    arguments = arguments if isinstance(arguments, dict) else call.arguments
    return text, protocol.ParsedCall(str(edited.get("name") or call.name), arguments, call.id)


async def debug_tool(
    debugger: Debugger, run_id: str, call: protocol.ParsedCall, delegation: bool
) -> tuple[protocol.ParsedCall, str | None]:
    """Before a tool call or a delegation: its arguments as edited, and a result given by hand
    (``result`` set while paused: the tool is then not called)."""
    pending: dict[str, Any] = {"tool": call.name, "arguments": dict(call.arguments), "result": None}
    await debugger.checkpoint(run_id, "delegation" if delegation else "tool", pending)
    arguments = pending.get("arguments")
    edited = protocol.ParsedCall(call.name, arguments if isinstance(arguments, dict) else {}, call.id)
    result = pending.get("result")
    return edited, None if result is None else str(result)


def apply_edit(data: dict[str, Any], edited: dict[str, Any]) -> None:
    """Replace what is pending with ``edited`` (a front end's whole-document edit), key by key."""
    unknown = set(edited) - set(data)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}: keep the keys that are there ({', '.join(data)})")
    data.update(edited)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _diff(before: Any, after: Any, path: str) -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in dict.fromkeys([*before, *after]):
            out += _diff(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            line
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for line in _diff(b, a, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path}: {_short(before)} -> {_short(after)}"]
