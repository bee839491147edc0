"""``sutazai dap``: one debugging session over the Debug Adapter Protocol, on the runtime's debug
engine (``agents/debugger.py``).

Threads are runs (a delegation starts a new one), stack frames the path from the paused step up
through the runs that wait on it, scopes the pending request (or answer, or tool call) and the run's
state. ``setVariable`` and ``setExpression`` edit what is pending before the run goes on;
``evaluate`` reads a value, renders the messages, or runs a tool by hand (``call NAME {json}``).

Launch with ``{"agent": NAME, "input": TEXT}``, ``{"agent": NAME, "case": CASE}`` (a smoke case,
live) or ``{"run": RUN_ID, "replay": true}`` (a recorded run answered from its own exchanges: no
engine, the same answers every time). Every request gets a response; a mistake is an error response
with a message, never a crashed adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sutazai.agents.breakpoints import SourceBreakpoint, meaningful_lines
from sutazai.agents.debugger import POINTS, Action, Debugger, Pause
from sutazai.errors import UserError
from sutazai.workbench.dap import wire
from sutazai.workbench.dap.frames import Frames

FILTERS = [
    {"filter": "model", "label": "Before each model call", "default": False},
    {"filter": "answer", "label": "After each model answer", "default": False},
    {"filter": "tool", "label": "Before each tool call", "default": False},
    {"filter": "delegation", "label": "Before each delegation", "default": False},
    {"filter": "error", "label": "On an error or a budget stop", "default": True},
]
STEPS: dict[str, Action] = {"continue": "continue", "next": "next", "stepIn": "stepIn", "stepOut": "stepOut"}


class RequestError(Exception):
    """A request that cannot be done: its message goes back in the error response."""


class DapSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cwd: Path) -> None:
        self.reader, self.writer, self.cwd = reader, writer, cwd
        self.seq = itertools.count(1)
        self.debugger = Debugger(on_stop=self._stopped, on_output=self._log)
        self.debugger.kinds = {"error"}
        self.frames = Frames(self.debugger)
        self.threads: dict[str, int] = {}  # run id -> thread id
        self.launch_args: dict[str, Any] | None = None
        self.run_task: asyncio.Task[None] | None = None
        self.configured = asyncio.Event()
        self.done = False

    # --- transport ----------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.writer.write(wire.frame({"seq": next(self.seq), **message}))

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        self.send({"type": "event", "event": name, **({"body": body} if body is not None else {})})

    def _log(self, text: str, category: str = "console") -> None:
        self.event("output", {"category": category, "output": text if text.endswith("\n") else text + "\n"})

    async def serve(self) -> None:
        """Answer requests until the client disconnects or the stream ends."""
        try:
            while not self.done:
                try:
                    message = await wire.read_message(self.reader)
                except wire.FrameError as exc:
                    self._log(f"sutazai dap: {exc}", "stderr")
                    continue
                except asyncio.IncompleteReadError:
                    break
                if message is None:
                    break
                if message.get("type") == "request":
                    await self._answer(message)
                await self.writer.drain()
        finally:
            await self._shutdown()

    async def _answer(self, request: dict[str, Any]) -> None:
        command = str(request.get("command"))
        handler: Callable[[dict[str, Any]], Any] | None = getattr(self, f"on_{command}", None)
        reply: dict[str, Any] = {"type": "response", "request_seq": request.get("seq"), "command": command}
        try:
            if handler is None:
                raise RequestError(f"sutazai dap does not support {command!r}")
            arguments = request.get("arguments") or {}
            if not isinstance(arguments, dict):
                raise RequestError("`arguments` must be an object")
            result = handler(arguments)
            body = await result if asyncio.iscoroutine(result) else result
            self.send({**reply, "success": True, **({"body": body} if body is not None else {})})
        except (RequestError, UserError) as exc:
            message = str(exc)
            error = {"id": 1, "format": message, "showUser": True}
            self.send({**reply, "success": False, "message": message, "body": {"error": error}})
        if command == "initialize":
            self.event("initialized")

    async def _shutdown(self) -> None:
        """The client is gone: a paused run is cancelled (and recorded so), nothing is left running."""
        self.done = True
        self.debugger.resume_all("cancel")
        if self.run_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.run_task, timeout=30)

    # --- set-up -------------------------------------------------------------------------------

    def on_initialize(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "supportsConfigurationDoneRequest": True,
            "supportsConditionalBreakpoints": True,
            "supportsHitConditionalBreakpoints": True,
            "supportsLogPoints": True,
            "supportsSetVariable": True,
            "supportsSetExpression": True,
            "supportsTerminateRequest": True,
            "exceptionBreakpointFilters": FILTERS,
        }

    def on_setBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        path = Path(str((arguments.get("source") or {}).get("path") or ""))
        if not path.is_absolute():
            path = (self.cwd / path).resolve()
        wanted = [
            SourceBreakpoint(int(b["line"]), b.get("condition"), b.get("hitCondition"), b.get("logMessage"))
            for b in arguments.get("breakpoints") or []
            if isinstance(b, dict) and isinstance(b.get("line"), int)
        ]
        placed = self.debugger.breakpoints.set_file(path, wanted, meaningful_lines(path))
        return {
            "breakpoints": [
                {
                    "id": b.id,
                    "verified": b.verified,
                    "line": b.line,
                    "message": b.message,
                    "source": {"path": str(path)},
                }
                for b in placed
            ]
        }

    def on_setExceptionBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        filters = [str(f) for f in arguments.get("filters") or []]
        unknown = [f for f in filters if f not in POINTS]
        if unknown:
            raise RequestError(f"unknown filter {unknown[0]!r}; filters: {', '.join(POINTS)}")
        self.debugger.kinds = set(filters)  # type: ignore[arg-type]  # checked against POINTS above
        return {"breakpoints": [{"verified": True} for _ in filters]}

    async def on_launch(self, arguments: dict[str, Any]) -> None:
        from sutazai.workbench.dap.launch import prepare

        self.launch_args = arguments
        self.debugger.stop_on_entry = bool(arguments.get("stopOnEntry"))
        self.prepared = await prepare(arguments, self.cwd)  # errors (unknown agent, ...) answer the launch
        self.debugger.workspace_root = self.prepared.workspace.root
        self.run_task = asyncio.create_task(self._run())

    def on_attach(self, arguments: dict[str, Any]) -> None:
        from sutazai.workbench.dap.launch import attach_problem

        raise RequestError(attach_problem(arguments, self.cwd))

    def on_configurationDone(self, _: dict[str, Any]) -> None:
        self.configured.set()

    async def _run(self) -> None:
        await self.configured.wait()
        prepared = self.prepared
        prepared.runtime.debugger = self.debugger
        code = 1
        try:
            outcome = await prepared.run(
                lambda text: self.event("output", {"category": "stdout", "output": text})
            )
            self._log(
                f"\nrun {outcome.run_id} {outcome.status}" + (f": {outcome.error}" if outcome.error else "")
            )
            code = 0 if outcome.status == "ok" else 1
        except Exception as exc:  # the adapter reports it and ends the session; it does not crash
            self._log(f"sutazai dap: the run failed to start: {type(exc).__name__}: {exc}", "stderr")
        finally:
            await prepared.close()
        if not self.done:
            self.event("exited", {"exitCode": code})
            self.event("terminated")
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    # --- stops --------------------------------------------------------------------------------

    def thread_of(self, run_id: str) -> int:
        if run_id not in self.threads:
            self.threads[run_id] = len(self.threads) + 1
            self.event("thread", {"reason": "started", "threadId": self.threads[run_id]})
        return self.threads[run_id]

    def run_of(self, arguments: dict[str, Any]) -> str:
        thread = arguments.get("threadId")
        for run_id, ident in self.threads.items():
            if ident == thread:
                return run_id
        raise RequestError(f"no thread {thread}: threads are the runs seen so far")

    async def _stopped(self, pause: Pause) -> None:
        for run_id in self.debugger.runs:  # runs that started since: threads the client can list
            self.thread_of(run_id)
        self.frames.reset()
        body: dict[str, Any] = {
            "reason": pause.reason if pause.reason != "exception" else "exception",
            "threadId": self.thread_of(pause.run_id),
            "description": f"paused before {pause.point} in {pause.agent}",
            "allThreadsStopped": False,
        }
        if pause.breakpoint is not None:
            body["hitBreakpointIds"] = [pause.breakpoint.id]
        if pause.point == "error":
            body["text"] = str(pause.data.get("error"))
        self.event("stopped", body)
        await self.writer.drain()

    def on_threads(self, _: dict[str, Any]) -> dict[str, Any]:
        for run_id in self.debugger.runs:
            self.thread_of(run_id)
        threads = []
        for run_id, ident in self.threads.items():
            entry = self.debugger.runs.get(run_id)
            agent = entry.agent if entry else "finished"
            threads.append({"id": ident, "name": f"{agent} · run {run_id[:8]}"})
        return {"threads": threads}

    def on_stackTrace(self, arguments: dict[str, Any]) -> dict[str, Any]:
        frames = self.frames.stack(self.run_of(arguments))
        return {"stackFrames": frames, "totalFrames": len(frames)}

    def on_scopes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"scopes": self.frames.scopes(int(arguments.get("frameId", 0)))}

    def on_variables(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"variables": self.frames.variables(int(arguments.get("variablesReference", 0)))}

    def on_setVariable(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.frames.set_variable(
                int(arguments.get("variablesReference", 0)),
                str(arguments.get("name")),
                str(arguments.get("value")),
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise RequestError(str(exc)) from None

    def on_setExpression(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.frames.set_expression(
                int(arguments.get("frameId", 0)),
                str(arguments.get("expression")),
                str(arguments.get("value")),
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise RequestError(str(exc)) from None

    async def on_evaluate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        expression = str(arguments.get("expression") or "").strip()
        frame = int(arguments.get("frameId", 0))
        if expression.startswith("call "):
            return {"result": await self._call_by_hand(frame, expression[5:]), "variablesReference": 0}
        try:
            return self.frames.evaluate(frame, expression)
        except (KeyError, IndexError, ValueError) as exc:
            raise RequestError(str(exc)) from None

    async def _call_by_hand(self, frame: int, text: str) -> str:
        pause = self.frames.pause_of(frame)
        name, _, raw = text.strip().partition(" ")
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise RequestError(f"`call {name}` takes a JSON object: {exc}") from None
        return await self.prepared.call_tool(pause.agent, name, arguments)

    def _resume(self, arguments: dict[str, Any], action: Action) -> dict[str, Any]:
        run_id = self.run_of(arguments)
        if not self.debugger.resume(run_id, action):
            raise RequestError("that run is not paused")
        return {"allThreadsContinued": False}

    def on_continue(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._resume(arguments, "continue")

    def on_next(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._resume(arguments, "next")

    def on_stepIn(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._resume(arguments, "stepIn")

    def on_stepOut(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._resume(arguments, "stepOut")

    def on_pause(self, arguments: dict[str, Any]) -> None:
        self.debugger.pause_at_next(self.run_of(arguments))

    def on_terminate(self, _: dict[str, Any]) -> None:
        self.debugger.resume_all("cancel")

    async def on_disconnect(self, _: dict[str, Any]) -> None:
        self.done = True
        self.debugger.resume_all("cancel")


async def serve_stdio(cwd: Path) -> None:
    reader, writer = await wire.stdio_streams()
    await DapSession(reader, writer, cwd).serve()


async def serve_tcp(cwd: Path, host: str, port: int, on_ready: Callable[[int], None]) -> None:
    """One session per connection, on loopback unless told otherwise."""

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await DapSession(reader, writer, cwd).serve()
        finally:
            writer.close()

    server = await asyncio.start_server(connected, host, port, limit=wire.MAX_BODY)
    on_ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()
