"""``sutazai a2a serve``: every agent of the workspace as an A2A 1.0 agent (``a2a-sdk``).

Each agent has its own card (``/agents/NAME/.well-known/agent-card.json``: its description, a skill
per tool and delegate, text in and out, streaming) and JSON-RPC endpoint (``/agents/NAME/``); the
workspace card (``/.well-known/agent-card.json``) lists them all as skills. A message becomes an
ordinary recorded run of the agent: the task starts working, the answer streams as chunks of one
artifact, and the task completes (or fails) with the run id and trace id in the artifact's metadata.
Cancelling the task cancels the run, which is recorded as cancelled.

Bound to 127.0.0.1 with the gateway's Host/Origin rule (loopback names only, no foreign origin);
anywhere else only with the workspace token, which every request must then carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast, get_args

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater

from sutazai.agents.a2a_remote import META
from sutazai.errors import Problem, UserError
from sutazai.wire import Priority
from sutazai.workspace import Workspace

if TYPE_CHECKING:
    from sutazai.agents.events import RunEvent
    from sutazai.agents.run_state import RunContext
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.agents.spec import AgentSpec

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
TEXT = ["text/plain"]
MAX_TASKS = 1000  # per agent: the tasks a server keeps for GetTask and ListTasks
PRIORITIES = frozenset(get_args(Priority))


def card_for(agent: Any, url: str) -> Any:
    """An agent's A2A card: who it is, where to call it, and what it can do (its tools, its delegates)."""
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill

    spec = agent.spec
    skills = [
        AgentSkill(id="ask", name=agent.name, description=spec.description or agent.name, tags=[spec.kind])
    ]
    skills += [
        AgentSkill(id=f"tool:{t}", name=t, description=f"uses the {t} tool", tags=["tool"])
        for t in spec.tools
    ]
    skills += [
        AgentSkill(id=f"asks:{d}", name=d, description=f"asks the agent {d}", tags=["delegate"])
        for d in spec.delegate_names
    ]
    return AgentCard(
        name=agent.name,
        description=spec.description or agent.name,
        version="1.0.0",
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=TEXT,
        default_output_modes=TEXT,
        skills=skills,
    )


class SharedRuntime:
    """One runtime (run store, gateway client, remote agents) for every request the server takes:
    opened on the first message, closed when the server stops."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._stack = contextlib.AsyncExitStack()
        self._runtime: AgentRuntime | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AgentRuntime:
        from sutazai.agents.session import open_runtime

        async with self._lock:
            if self._runtime is None:
                self._runtime = await self._stack.enter_async_context(open_runtime(self.workspace))
            return self._runtime

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._runtime = None


class AgentRunner(AgentExecutor):
    """The A2A executor of one agent: a message is one run, its answer streamed as an artifact."""

    def __init__(self, shared: SharedRuntime, name: str, token: str | None) -> None:
        self.shared = shared
        self.name = name
        self.token = token  # the workspace's: a caller holding it may set the run's priority

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        from sutazai.agents import tracing
        from sutazai.agents.events import Token
        from sutazai.agents.session import run_to_end

        if context.current_task is None and context.message is not None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.start_work()
        runtime = await self.shared.get()
        agent = runtime.callees.get(self.name)
        headers: dict[str, str] = context.call_context.state.get("headers", {})
        caller = caller_context(agent.spec, context.metadata.get(META), self._trusted(headers))
        sent = False
        streamed = context.call_context.state.get("method") != "SendMessage"  # one that waits: one piece

        async def forward(event: RunEvent) -> None:  # the answer as it comes, a chunk a token
            nonlocal sent
            if isinstance(event, Token):
                await updater.add_artifact(
                    [new_text_part(event.text)],
                    artifact_id="answer",
                    name="answer",
                    append=sent,
                    last_chunk=False,
                )
                sent = True

        with tracing.served_span(self.name, headers):
            outcome = await run_to_end(
                runtime,
                agent,
                context.get_user_input(),
                parent=caller,
                on_event=forward if streamed else None,
                source="a2a",
            )
            trace_id = _trace_id()
        metadata = {
            "run_id": outcome.run_id,
            "trace_id": trace_id,
            "status": outcome.status,
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
        }
        whole = [] if streamed else [new_text_part(outcome.output)]
        await updater.add_artifact(
            whole, artifact_id="answer", name="answer", metadata=metadata, append=streamed, last_chunk=True
        )
        if outcome.ok:
            await updater.complete()
        else:
            failure = updater.new_agent_message([new_text_part(f"run {outcome.status}: {outcome.error}")])
            await updater.failed(failure)

    def _trusted(self, headers: dict[str, str]) -> bool:
        offered = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(self.token and offered) and hmac.compare_digest(
            offered.encode(), str(self.token).encode()
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def caller_context(spec: AgentSpec, given: Any, trusted: bool) -> RunContext | None:
    """What a calling run passed in the message metadata (``sutazai``: time left, budget left,
    depth and its limit, priority), as the context a local child would inherit. Out-of-range or
    malformed values are ignored, never trusted; priority only from a caller holding the token."""
    from sutazai.agents.run_state import RunContext, now

    if not isinstance(given, dict):
        return None

    def number(key: str, low: float, high: float) -> float | None:
        value = given.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
            return float(value)
        return None

    deadline_s = number("deadline_s", 0.001, 3600)
    budget = number("budget", 1, 10**9)
    depth = number("depth", 0, 64)
    max_depth = number("max_depth", 1, 64)
    conversation = given.get("conversation")
    asked = given.get("priority")
    priority = cast(Priority, asked) if trusted and asked in PRIORITIES else spec.priority
    return RunContext(
        priority=priority,
        deadline=None if deadline_s is None else now() + deadline_s,
        budget=None if budget is None else int(budget),
        depth=0 if depth is None else int(depth),
        max_depth=int(max_depth) if max_depth is not None else int(depth or 0) + spec.limits.max_depth,
        root_run=conversation if isinstance(conversation, str) and 0 < len(conversation) <= 64 else None,
    )


class BoundedTaskStore(InMemoryTaskStore):
    """The SDK's in-memory task store, forgetting the oldest tasks past :data:`MAX_TASKS` per agent:
    a long-lived server must not grow with every message a stranger sends (a finished task stays
    readable until then; its run stays in the run store for good)."""

    def __init__(self, limit: int = MAX_TASKS) -> None:
        super().__init__()
        self.limit = limit
        self._order: OrderedDict[str, Any] = OrderedDict()  # task id → the context it was saved with

    async def save(self, task: Any, context: Any) -> None:
        await super().save(task, context)
        self._order[task.id] = context
        self._order.move_to_end(task.id)
        while len(self._order) > self.limit:
            oldest, saved_with = self._order.popitem(last=False)
            await self.delete(oldest, saved_with)


def _trace_id() -> str:
    """The current trace's id (the run's, when tracing is on), else ""."""
    try:
        from opentelemetry import trace
    except ImportError:
        return ""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.trace_id else ""


def build_app(workspace: Workspace, base_url: str, token: str | None = None) -> Any:
    """The Starlette application: the workspace card, and a card and endpoint per agent."""
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount

    from sutazai.agents.loader import AgentCatalog

    catalog = AgentCatalog.scan(workspace)
    shared = SharedRuntime(workspace)
    trusted_token = token or workspace.gateway_token()
    mounts = []
    skills = []
    for name, agent in sorted(catalog.agents.items()):
        url = f"{base_url}/agents/{name}/"
        card = card_for(agent, url)
        handler = DefaultRequestHandler(
            agent_executor=AgentRunner(shared, name, trusted_token),
            task_store=BoundedTaskStore(),
            agent_card=card,
        )
        routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")]
        mounts.append(Mount(f"/agents/{name}", routes=routes))
        skills.append(AgentSkill(id=name, name=name, description=card.description, tags=["agent"]))
    workspace_card = AgentCard(
        name=f"SutazAI workspace {workspace.root.name}",
        description=f"{len(skills)} agents; each has its own card under /agents/NAME/",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=f"{base_url}/", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=TEXT,
        default_output_modes=TEXT,
        skills=skills,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        await shared.aclose()

    return Starlette(
        routes=[*create_agent_card_routes(workspace_card), *mounts],
        middleware=[Middleware(_Guard, token=token)],
        lifespan=lifespan,
    )


class _Guard:
    """Loopback Host names only (DNS rebinding), no browser origin, and the token when one is set."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = (
            headers.get("host", "").rsplit(":", 1)[0]
            if not headers.get("host", "").startswith("[")
            else "[::1]"
        )
        offered = headers.get("authorization", "").removeprefix("Bearer ").strip()
        refused = None
        if self.token is None and host not in LOOPBACK_NAMES:
            refused = f"host {host!r} is not allowed"
        elif "origin" in headers:
            refused = "browser origins are not allowed"
        elif self.token is not None and not hmac.compare_digest(offered.encode(), self.token.encode()):
            refused = "this server needs the workspace token (Authorization: Bearer ...)"
        if refused is None:
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        await JSONResponse({"error": refused}, status_code=403)(scope, receive, send)


def serve(workspace: Workspace, host: str, port: int) -> None:
    import uvicorn

    token = None
    if host not in LOOPBACK_NAMES:
        token = workspace.gateway_token()
        if token is None:
            raise UserError(
                Problem(
                    f"refusing to serve A2A on {host} without a token",
                    hint="run `sutazai stack up` first (it writes the token)",
                )
            )
    shown = f"[{host}]" if ":" in host else host
    app = build_app(workspace, f"http://{shown}:{port}", token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
