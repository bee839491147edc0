"""Remote delegates: agents in another process or workspace, called over A2A (``a2a-sdk``'s client).

``delegates: [{a2a: http://host:port/agents/calc/}]`` offers the model a tool ``ask_calc`` like a
local delegate. Its description is the card's (``URL/.well-known/agent-card.json``) unless the spec
gives one; the card fetched is kept through the run's client, so a cassette holds it and a smoke
replay never needs the network. A call is one ``SendMessage``, answered when the remote task ends:

- what the protocol can carry goes in the message metadata under ``sutazai``: the time left before
  the caller's deadline, the token budget left, the delegation depth and its limit, and the priority
  (honoured only from a caller that holds the remote's token);
- the W3C ``traceparent`` goes as a header, so the remote run joins the caller's trace;
- cancelling the calling run cancels the remote task; the remote's tokens count against the caller's
  budget (from the answer's metadata) and its task id, run id and trace id are recorded on the step.

In replay the answer comes from the cassette like any tool's; a replay with no recorded answer
fails the call instead of reaching for the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from sutazai.agents import tracing
from sutazai.agents.delegation import input_schema, start_delegation, tool_name

if TYPE_CHECKING:
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import AgentDefinition
    from sutazai.agents.run_state import RunState
    from sutazai.agents.spec import RemoteDelegate
    from sutazai.agents.tools import Tool

# The SDK's own spans (a span per queue operation, some in traces of their own) drown the trace we
# give a call: a client span and a server span. A user who wants them sets the variable.
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

CARD_PATH = ".well-known/agent-card.json"
CARD_TTL_S = 60.0
CARD_TIMEOUT_S = 5.0
CARD_EXCHANGE = "a2a-card"  # how a fetched card is kept in a cassette (a tool exchange by this name)
META = "sutazai"  # the metadata key our caller and server agree on


class RemoteAgentError(RuntimeError):
    """A remote agent that cannot be reached, is not an A2A agent, or did not answer: the calling
    tool's error, with the URL and what to do."""


@dataclass(frozen=True)
class RemoteAnswer:
    text: str
    task_id: str
    state: str
    run_id: str = ""
    trace_id: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def record(self, url: str) -> dict[str, Any]:
        """What the delegation step keeps of the call (``ToolStep.remote``)."""
        return {
            "a2a": url,
            "task_id": self.task_id,
            "state": self.state,
            "run_id": self.run_id,
            "trace_id": self.trace_id,
        }


class RemoteAgents:
    """Cards and clients of the remote agents one runtime calls, over one HTTP connection pool."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._cards: dict[str, tuple[float, Any]] = {}
        self._clients: dict[str, tuple[Any, Any]] = {}  # url → (card, its SDK client)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=CARD_TIMEOUT_S))
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._clients.clear()

    async def card(self, url: str) -> Any:
        """The agent card at ``url`` (cached a minute); :class:`RemoteAgentError` when unreachable or
        not A2A."""
        cached = self._cards.get(url)
        if cached is not None and time.monotonic() - cached[0] < CARD_TTL_S:
            return cached[1]
        try:
            response = await self.http.get(card_url_of(url), timeout=CARD_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise unreachable(url, exc) from None
        card = card_of(url, response)
        self._cards[url] = (time.monotonic(), card)
        return card

    async def _client(self, url: str) -> Any:
        """The SDK's client for ``url``, made again only when its card was fetched again."""
        from a2a.client import ClientConfig, ClientFactory

        card = await self.card(url)
        made = self._clients.get(url)
        if made is None or made[0] is not card:
            client = ClientFactory(ClientConfig(streaming=False, httpx_client=self.http)).create(card)
            made = self._clients[url] = (card, client)
        return made[1]

    async def send(
        self, url: str, text: str, metadata: dict[str, Any], headers: dict[str, str], timeout_s: float
    ) -> RemoteAnswer:
        """One message to the agent at ``url``, answered when its task ends (``SendMessage``: the
        caller wants the whole answer, and a stream costs the hop more). The message carries a
        conversation id of our own, so a cancelled call finds its task and cancels it."""
        from a2a.client import ClientCallContext
        from a2a.types import Message, Part, Role, SendMessageRequest

        client = await self._client(url)
        conversation = uuid.uuid4().hex
        message = Message(
            role=Role.ROLE_USER, parts=[Part(text=text)], message_id=uuid.uuid4().hex, context_id=conversation
        )
        request = SendMessageRequest(message=message)
        request.metadata.update({META: metadata})
        context = ClientCallContext(service_parameters=headers, timeout=timeout_s)
        try:
            responses = [r async for r in client.send_message(request, context=context)]
        except asyncio.CancelledError:  # the caller gave up: so does the remote run
            await asyncio.shield(_cancel_conversation(client, conversation, headers))
            raise
        except Exception as exc:  # the SDK's transport and protocol errors, or garbage from the remote
            raise RemoteAgentError(f"remote agent {url} failed: {type(exc).__name__}: {exc}") from None
        return _answer(url, responses)


def _answer(url: str, responses: list[Any]) -> RemoteAnswer:
    """The remote's final task (or plain message) as an answer; a task that did not complete is
    the call's error, with the remote's reason."""
    for response in responses:
        kind = response.WhichOneof("payload")
        if kind == "message":  # an agent may answer with a message and no task
            return RemoteAnswer(
                text="".join(p.text for p in response.message.parts), task_id="", state="completed"
            )
        if kind != "task":
            continue
        task = response.task
        state = _state_name(task.status.state)
        if state != "completed":
            why = " ".join(p.text for p in task.status.message.parts)
            raise RemoteAgentError(f"remote agent {url} {state}: {why or 'no reason given'}")
        meta: dict[str, Any] = {}
        parts: list[str] = []
        for artifact in task.artifacts:
            parts += [p.text for p in artifact.parts]
            meta.update(_plain(artifact.metadata))
        return RemoteAnswer(
            text="".join(parts),
            task_id=task.id,
            state=state,
            run_id=str(meta.get("run_id", "")),
            trace_id=str(meta.get("trace_id", "")),
            prompt_tokens=int(meta.get("prompt_tokens", 0) or 0),
            completion_tokens=int(meta.get("completion_tokens", 0) or 0),
        )
    raise RemoteAgentError(f"remote agent {url} answered with neither a task nor a message")


async def _cancel_conversation(client: Any, conversation: str, headers: dict[str, str]) -> None:
    """Cancel the tasks of ``conversation`` still running: best effort, the caller's reason stands."""
    from a2a.client import ClientCallContext
    from a2a.types import CancelTaskRequest, ListTasksRequest

    context = ClientCallContext(service_parameters=headers, timeout=5)
    with contextlib.suppress(Exception):
        listed = await client.list_tasks(ListTasksRequest(context_id=conversation), context=context)
        for task in listed.tasks:
            if _state_name(task.status.state) in ("submitted", "working"):
                await client.cancel_task(CancelTaskRequest(id=task.id), context=context)


def card_url_of(url: str) -> str:
    return url.rstrip("/") + "/" + CARD_PATH


def parse_card(data: dict[str, Any], url: str) -> Any:
    """A card as the SDK's type; :class:`RemoteAgentError` when it is not one."""
    from a2a.types import AgentCard
    from google.protobuf.json_format import ParseDict, ParseError

    try:
        card = ParseDict(data, AgentCard(), ignore_unknown_fields=True)
    except ParseError as exc:
        raise RemoteAgentError(f"{card_url_of(url)} is not an A2A agent card: {exc}") from None
    if not card.name or not card.supported_interfaces:
        raise RemoteAgentError(f"{card_url_of(url)} is not an A2A agent card (no name or no interface)")
    return card


async def remote_tools(
    client: GatewayClient, remotes: RemoteAgents, caller: AgentDefinition, state: RunState
) -> dict[str, Tool]:
    """``caller``'s remote delegates as tools; each card is read through ``client`` (so a cassette
    keeps it) and a card that cannot be read still gives a tool, whose call says why."""
    from sutazai.agents.tools import Tool

    tools: dict[str, Tool] = {}
    for remote in caller.spec.remote_delegates:
        description = remote.description or await _card_description(client, remotes, remote)
        ask = _asker(remotes, caller, state, remote)
        name = tool_name(remote.agent)
        tools[name] = Tool(name, ask, description, input_schema(remote.agent), remote=remote.a2a)
    return tools


async def _card_description(client: GatewayClient, remotes: RemoteAgents, remote: RemoteDelegate) -> str:
    fallback = f"Ask the remote agent {remote.agent}."
    recorded = await client.replayed_tool(CARD_EXCHANGE, {"url": remote.a2a})
    if recorded is not None:
        return recorded
    if client.offline:
        return fallback
    try:
        card = await remotes.card(remote.a2a)
    except RemoteAgentError:
        return fallback  # the call will say why
    description = str(card.description or fallback)
    client.recorded_tool(CARD_EXCHANGE, {"url": remote.a2a}, description)
    return description


def _asker(remotes: RemoteAgents, caller: AgentDefinition, state: RunState, remote: RemoteDelegate) -> Any:
    async def ask(input: str) -> str:
        step = start_delegation(caller, state)
        context = state.context
        timeout_s = min(context.timeout_s, 3600.0)
        metadata: dict[str, Any] = {
            "deadline_s": round(timeout_s, 3),
            "depth": context.depth + 1,
            "max_depth": context.max_depth,
            "priority": context.priority,
            "caller": caller.name,
            "conversation": context.root_run or state.run_id,
        }
        if context.budget is not None:
            metadata["budget"] = max(context.budget - state.used, 1)
        with tracing.remote_agent_span(remote.agent, remote.a2a):  # the headers carry this span
            answer = await remotes.send(remote.a2a, input, metadata, _headers(remote), timeout_s)
        state.usage.prompt += answer.prompt_tokens  # the remote's tokens count against this run
        state.usage.completion += answer.completion_tokens
        state.remote_calls[step] = answer.record(remote.a2a)
        return answer.text

    return ask


def _headers(remote: RemoteDelegate) -> dict[str, str]:
    headers = dict(tracing.propagation_headers())
    token = os.environ.get(remote.token_env) if remote.token_env else None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _plain(struct: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    try:
        value = MessageToDict(struct)
    except Exception:
        return {}
    return value if isinstance(value, dict) else {}


def _state_name(state: int) -> str:
    from a2a.types import TaskState

    return str(TaskState.Name(state)).removeprefix("TASK_STATE_").lower()


def card_of(url: str, response: httpx.Response) -> Any:
    """The agent card in ``response`` (to a GET of ``url``'s card) as the SDK's type, or
    :class:`RemoteAgentError` saying why it is not one."""
    card_url = card_url_of(url)
    if response.status_code != 200:
        raise RemoteAgentError(f"{card_url} answered HTTP {response.status_code}, not an agent card")
    try:
        data = response.json()
    except ValueError:
        raise RemoteAgentError(f"{card_url} is not JSON, so not an A2A agent card") from None
    if not isinstance(data, dict):
        raise RemoteAgentError(f"{card_url} is not an A2A agent card")
    return parse_card(data, url)


def unreachable(url: str, exc: Exception) -> RemoteAgentError:
    return RemoteAgentError(
        f"no A2A agent reachable at {url} ({type(exc).__name__}); is its `sutazai a2a serve` running?"
    )


def card_problem_sync(url: str, timeout_s: float = 2.0) -> str | None:
    """Why the card at ``url`` is not usable (unreachable, not A2A, no skills); None when it is.
    For the language server, which checks cards as files are edited (cached there)."""
    try:
        card = card_of(url, httpx.get(card_url_of(url), timeout=timeout_s))
    except httpx.HTTPError as exc:
        return str(unreachable(url, exc))
    except RemoteAgentError as exc:
        return str(exc)
    return None if card.skills else f"the agent card at {url} lists no skills"
