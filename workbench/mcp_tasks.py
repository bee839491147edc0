"""MCP Tasks (``io.modelcontextprotocol/tasks``, SEP-2663, revision 2026-07-28) for ``sutazai mcp``.

A ``run_agent``, ``run_smoke`` or ``run_fleet`` call takes seconds to minutes on a CPU fleet. When the client
declares the extension on the request, the call answers at once with a task handle
(``resultType: "task"``) and the work goes on in the server; the client polls ``tasks/get``, which
carries the progress as ``statusMessage`` and, at the end, the tool's ordinary ``CallToolResult``
(an ``isError`` result is a *completed* task, as the extension says). ``tasks/cancel`` cancels the
run, which is recorded as cancelled. A client that never declared the extension gets the plain
answer, as before.

The table is in memory and bounded: at most :data:`MAX_TASKS` tasks, each kept :data:`TTL_S` from
its creation; a task still working when it expires is cancelled, so an abandoned poll loop cannot
keep a run going for ever.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, RequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

IDENTIFIER = "io.modelcontextprotocol/tasks"
TASKABLE = frozenset({"run_agent", "run_smoke", "run_fleet"})
MAX_TASKS = 200
TTL_S = 3600.0
POLL_INTERVAL_MS = 500
TERMINAL = frozenset({"completed", "failed", "cancelled"})

# The task a tool runs under, if any: its progress goes to the task's status message.
current_task: contextvars.ContextVar[McpTask | None] = contextvars.ContextVar(
    "sutazai_mcp_task", default=None
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class McpTask:
    id: str
    tool: str
    status: str = "working"
    status_message: str = "started"
    created: float = field(default_factory=time.monotonic)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    job: asyncio.Task[None] | None = None

    def update(self, status: str | None = None, message: str | None = None) -> None:
        if self.status in TERMINAL:
            return  # a finished task says what it finished with
        self.status = status or self.status
        self.status_message = message if message is not None else self.status_message
        self.updated_at = _now()

    def wire(self) -> dict[str, Any]:
        """The task as ``tasks/get`` and ``CreateTaskResult`` carry it."""
        body: dict[str, Any] = {
            "taskId": self.id,
            "status": self.status,
            "statusMessage": self.status_message,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.updated_at,
            "ttlMs": int(TTL_S * 1000),
            "pollIntervalMs": POLL_INTERVAL_MS,
        }
        if self.status == "completed" and self.result is not None:
            body["result"] = self.result
        if self.status == "failed" and self.error is not None:
            body["error"] = self.error
        return body


class TaskIdParams(RequestParams):
    task_id: str  # taskId on the wire (MCP models are camelCase)


class TaskUpdateParams(TaskIdParams):
    input_responses: dict[str, Any] | None = None


class McpTasks(Extension):
    """The extension: task handles for the long tools, and ``tasks/get|update|cancel``."""

    identifier = IDENTIFIER

    def __init__(self) -> None:
        self.tasks: OrderedDict[str, McpTask] = OrderedDict()

    def methods(self) -> Sequence[MethodBinding]:
        modern = frozenset(MODERN_PROTOCOL_VERSIONS)
        return (
            MethodBinding("tasks/get", TaskIdParams, self._get, modern),
            MethodBinding("tasks/update", TaskUpdateParams, self._update, modern),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, modern),
        )

    async def intercept_tool_call(self, params: Any, ctx: Any, call_next: Any) -> Any:
        if params.name not in TASKABLE or not _declared(ctx):
            return await call_next(ctx)
        self._expire()
        task = McpTask(id=uuid.uuid4().hex, tool=params.name)
        self.tasks[task.id] = task

        async def work() -> None:
            current_task.set(task)
            try:
                result = await call_next(ctx)
            except asyncio.CancelledError:
                task.update("cancelled", "cancelled")
                raise
            except MCPError as exc:
                task.error = {"code": exc.error.code, "message": exc.error.message}
                task.update("failed", exc.error.message)
                return
            except Exception as exc:  # a bug, not a user mistake: the task says so, the server lives
                task.error = {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}
                task.update("failed", task.error["message"])
                return
            task.result = _dumped(result)
            task.update("completed", "done")

        task.job = asyncio.create_task(work())
        return {"resultType": "task", **task.wire()}

    async def _get(self, ctx: Any, params: TaskIdParams) -> dict[str, Any]:
        return {"resultType": "complete", **self._task(params.task_id).wire()}

    async def _update(self, ctx: Any, params: TaskUpdateParams) -> dict[str, Any]:
        self._task(params.task_id)  # our tools never ask for input: nothing is outstanding
        return {"resultType": "complete"}

    async def _cancel(self, ctx: Any, params: TaskIdParams) -> dict[str, Any]:
        task = self._task(params.task_id)
        if task.status not in TERMINAL and task.job is not None:
            task.job.cancel()
            task.update("cancelled", "cancelled by the client")
        return {"resultType": "complete"}

    def _task(self, task_id: str) -> McpTask:
        self._expire()
        task = self.tasks.get(task_id)
        if task is None:
            raise MCPError(INVALID_PARAMS, f"no task {task_id!r} (it may have expired after {TTL_S:g} s)")
        return task

    def _expire(self) -> None:
        """Forget tasks past their TTL or past :data:`MAX_TASKS` (oldest first); cancel their work."""
        now = time.monotonic()
        while self.tasks:
            oldest = next(iter(self.tasks.values()))
            if now - oldest.created < TTL_S and len(self.tasks) < MAX_TASKS:
                break
            self.tasks.popitem(last=False)
            if oldest.job is not None and not oldest.job.done():
                oldest.job.cancel()


def _declared(ctx: Any) -> bool:
    """Whether this request's client declared the extension (2026-07-28 sessions only)."""
    if getattr(ctx, "protocol_version", None) not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    declared = capabilities.extensions if capabilities else None
    return isinstance(declared, dict) and IDENTIFIER in declared


def _dumped(result: Any) -> dict[str, Any]:
    if hasattr(result, "model_dump"):
        dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    else:
        dumped = dict(result or {})
    dumped.setdefault("resultType", "complete")
    return dumped


async def report(ctx: Any, progress: float, total: float | None, message: str) -> None:
    """A tool's progress: into its task's status message when it runs as a task, else as an MCP
    progress notification."""
    task = current_task.get()
    if task is not None:
        task.update(message=message)
        return
    await ctx.report_progress(progress, total, message)
