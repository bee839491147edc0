"""The async agent loop: memory, model call (streamed), tool calls, repeat; every step recorded.

One :class:`AgentRuntime` serves a whole fleet: agents are definitions on disk plus lazily opened
memories, so 150 idle agents cost little more than their parsed specs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sutazai.agents import protocol, tracing
from sutazai.agents.a2a_remote import RemoteAgents
from sutazai.agents.agent_memory import AgentMemories
from sutazai.agents.debugger import Debugger, RunCancelled, RunEntry, debug_answer, debug_request, debug_tool
from sutazai.agents.delegation import Callees
from sutazai.agents.events import (
    MemoriesRetrieved,
    RunEvent,
    RunFinished,
    RunStarted,
    Token,
    ToolCalled,
    ToolReturned,
)
from sutazai.agents.exchange_keys import chat_key
from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentDefinition
from sutazai.agents.memory import Memory, MemoryHit
from sutazai.agents.run_record import (
    BackoffStep,
    ErrorStep,
    LlmStep,
    MemoryStep,
    Message,
    Step,
    ToolCall,
    tool_step,
)
from sutazai.agents.run_record import MemoryHit as RecordedHit
from sutazai.agents.run_state import RunContext, RunState, Usage, now, running_on, within_budget
from sutazai.agents.runstore import RunStore
from sutazai.agents.spec import LimitsSpec
from sutazai.agents.tools import ArgumentProblems, Tool
from sutazai.errors import BudgetExceeded, GatewayUnavailable, UserError
from sutazai.wire import Priority
from sutazai.workspace import Workspace


class AgentRuntime:
    def __init__(self, workspace: Workspace, client: GatewayClient, store: RunStore) -> None:
        self.workspace = workspace
        self.client = client
        self.store = store
        self.memories = AgentMemories(
            workspace,
            lambda texts, model, agent: self.client.embed(texts, model, agent=agent),
            store.redactor,
        )
        self.callees = Callees(workspace)
        self.debugger: Debugger | None = None  # attached by a debugging front end (DAP, TUI)
        self.remotes = RemoteAgents()  # A2A agents this runtime's runs call (one connection pool)

    def memory_for(self, agent: AgentDefinition) -> Memory:
        return self.memories.of(agent)

    # --- the loop -----------------------------------------------------------------------------

    async def run(
        self,
        agent: AgentDefinition,
        user_input: str,
        *,
        history: list[dict[str, Any]] | None = None,
        priority: Priority | None = None,
        messages: list[dict[str, Any]] | None = None,
        parent: RunContext | None = None,
        source: str | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Run one turn; yields events as they happen. Cancel the consumer to cancel the run.

        ``priority`` overrides the spec's (a chat is interactive); ``parent`` is what a calling run
        passes down (see ``RunContext.inherited``). ``messages`` replays a conversation exactly as
        given (a trace step, edited): no memory retrieval, no prompt assembly; the loop continues
        from there.
        """
        spec = agent.spec
        context = RunContext.resolve(spec, priority, parent)
        run_id = self.store.start_run(
            agent.name, user_input, spec.model_ref, context.parent_run, context.parent_step, source
        )
        state = RunState(run_id, context)
        timeout_s = context.timeout_s
        if self.debugger is not None:
            self.debugger.track(
                RunEntry(run_id, agent.name, context.parent_run, state.extend, self._record_for(state))
            )
        yield RunStarted(run_id, agent.name, spec.model_ref)
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        output_parts: list[str] = []

        async def drive() -> None:
            try:
                conversation = context.root_run or run_id
                with tracing.agent_span(
                    agent.name,
                    run_id,
                    spec.model_ref,
                    description=spec.description,
                    conversation=conversation,
                ):
                    async with asyncio.timeout(timeout_s) as state.timer:
                        output = await self._loop(agent, user_input, history or [], state, queue, messages)
                output_parts.append(output)
                await self._finish(state, "ok", output, None, queue)
            except TimeoutError:
                await self._fail(state, "timeout", f"run exceeded {timeout_s:g} s", queue)
            except asyncio.CancelledError:
                await self._fail(state, "cancelled", "cancelled by the caller", queue)
                raise
            except RunCancelled as exc:
                await self._fail(state, "cancelled", str(exc), queue)
            except GatewayUnavailable as exc:
                await self._fail(state, "unavailable", str(exc), queue, debug=True)
            except BudgetExceeded as exc:
                await self._fail(state, "budget", str(exc), queue, debug=True)
            except UserError as exc:
                await self._fail(state, "error", str(exc), queue, debug=True)
            except Exception as exc:  # a tool or engine bug: record it, never lose the run
                await self._fail(state, "error", f"{type(exc).__name__}: {exc}", queue, debug=True)
            finally:
                if self.debugger is not None:
                    self.debugger.forget(run_id)

        task = asyncio.create_task(drive())
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _finish(
        self, state: RunState, status: str, output: str, error: str | None, queue: asyncio.Queue[Any]
    ) -> None:
        u = state.usage
        self.store.finish_run(state.run_id, status, output, error, u.prompt, u.completion)
        await queue.put(RunFinished(state.run_id, status, output, error, u.prompt, u.completion, state.seq))
        await queue.put(None)

    async def _fail(
        self, state: RunState, status: str, error: str, queue: asyncio.Queue[Any], debug: bool = False
    ) -> None:
        if debug and self.debugger is not None:  # stop on the error, before the run is closed
            with contextlib.suppress(RunCancelled):
                await self.debugger.checkpoint(state.run_id, "error", {"status": status, "error": error})
        self._record(state, ErrorStep(started_at=time.time(), duration_ms=0.0, status=status, error=error))
        await self._finish(state, status, "", error, queue)

    def _record(self, state: RunState, step: Step) -> None:
        """A step of the run, numbered in order and stored as its kind's data (``run_record``)."""
        state.seq += 1
        self.store.add_step(
            state.run_id,
            state.seq,
            step.kind,
            step.started_at,
            step.duration_ms,
            step.data(),
            step.prompt_tokens,
            step.completion_tokens,
            step.error,
        )

    async def _loop(
        self,
        agent: AgentDefinition,
        user_input: str,
        history: list[dict[str, Any]],
        state: RunState,
        queue: asyncio.Queue[RunEvent | None],
        replayed: list[dict[str, Any]] | None = None,
    ) -> str:
        spec = agent.spec
        if spec.entrypoint and replayed is None:
            from sutazai.agents.entrypoint import run_entrypoint

            return await run_entrypoint(
                self,
                agent,
                user_input,
                state,
                self._record_for(state),
                self._tool_hook(state, queue),
                await self._delegate_tools(agent, state),
            )
        tools = {**self.memories.tools(agent), **await self._delegate_tools(agent, state)}
        system = agent.system_prompt
        if replayed is None and spec.memory.enabled and spec.memory.top_k > 0:
            hits = await self._retrieve(agent, user_input, state)
            if hits:
                await queue.put(MemoriesRetrieved(hits))
                system += "\n\nRelevant memories:\n" + "\n".join(f"- {h.text}" for h in hits)
        use_native = bool(tools) and await self._native_tools(spec.tool_protocol, spec.model_ref)
        if tools and not use_native:
            system += "\n\n" + protocol.instructions(list(tools.values()))
        # A `TOOL:` line is still understood when native calls are on: the fallback costs nothing.
        use_text = bool(tools) and spec.tool_protocol in ("auto", "text")
        native = [t.openai_schema() for t in tools.values()] if use_native else None
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}, *history]
        messages.append({"role": "user", "content": user_input})
        if replayed is not None:
            messages = [dict(m) for m in replayed]

        content = ""
        for iteration in range(spec.limits.max_iterations):
            within_budget(agent, state)
            # `required` holds for a run's first call only, so the model can answer once it has results.
            forced = native is not None and spec.tool_choice == "required" and iteration == 0
            if self.debugger is not None:  # edits to the messages are what the model is sent
                messages = await debug_request(self.debugger, state.run_id, messages, list(tools), iteration)
            content, calls = await self._call_model(
                agent, messages, native, bool(use_text), state, queue, forced
            )
            known = set(tools)
            call = calls[0] if calls else (protocol.parse_text_call(content, known) if use_text else None)
            if self.debugger is not None:
                content, call = await debug_answer(self.debugger, state.run_id, content, call, iteration)
            if call is None:
                return content
            messages.append(protocol.assistant_message(content, call))
            result = await self._call_tool(spec.limits, tools, call, state, queue)
            if call.id:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            else:
                messages.append({"role": "user", "content": f"RESULT: {result}"})
        return content

    async def _delegate_tools(self, agent: AgentDefinition, state: RunState) -> dict[str, Tool]:
        """Other agents as tools: this workspace's, and A2A agents elsewhere."""
        if not agent.spec.delegates:
            return {}
        from sutazai.agents.delegation import delegate_tools

        tools = delegate_tools(self, agent, state)
        if agent.spec.remote_delegates:
            from sutazai.agents.a2a_remote import remote_tools

            tools.update(await remote_tools(self.client, self.remotes, agent, state))
        return tools

    async def _native_tools(self, tool_protocol: str, model: str) -> bool:
        """Standard tool calls when the spec asks for them, or (``auto``) when the gateway says it
        makes them work for this model; else the ``TOOL:`` text protocol."""
        if tool_protocol != "auto":
            return tool_protocol == "native"
        try:
            return "tools" in await self.client.capabilities(model)
        except UserError:
            return False  # the chat call that follows reports an unreachable gateway properly

    def _backoff_recorder(self, state: RunState) -> Any:
        """A busy gateway's wait, as a step of the run: the trace says why the run was slow."""

        def on_backoff(status: int, seconds: float, message: str) -> None:
            step = BackoffStep(
                started_at=time.time(),
                duration_ms=seconds * 1000,
                status=status,
                wait_s=seconds,
                message=message,
            )
            self._record(state, step)

        return on_backoff

    def _tool_hook(self, state: RunState, queue: asyncio.Queue[RunEvent | None]) -> Any:
        """A framework tool's call as a step and two events, from whichever thread the framework
        calls it on: everything is handed to the run's event loop."""
        loop = asyncio.get_running_loop()

        def on_tool(name: str, arguments: dict[str, Any], result: str, error: str | None, ms: float) -> None:
            def on_loop() -> None:
                step = tool_step(
                    started_at=time.time() - ms / 1000,
                    duration_ms=ms,
                    tool=name,
                    arguments=arguments,
                    result=result,
                    call="framework",
                    error=error,
                )
                self._record(state, step)
                queue.put_nowait(ToolCalled(name, arguments))
                queue.put_nowait(
                    ToolReturned(name, result if error is None else f"error: {error}", error is not None)
                )

            if running_on(loop):
                on_loop()
            else:
                loop.call_soon_threadsafe(on_loop)

        return on_tool

    def _record_for(self, state: RunState) -> Callable[[Step], None]:
        return functools.partial(self._record, state)

    async def _retrieve(self, agent: AgentDefinition, query: str, state: RunState) -> list[MemoryHit]:
        started = time.time()
        t0 = time.perf_counter()
        with tracing.retrieval_span(agent.name, agent.spec.memory.backend or "memory"):
            hits = await self.memory_for(agent).recall(query, agent.spec.memory.top_k)
        self._record(
            state,
            MemoryStep(
                started_at=started,
                duration_ms=(time.perf_counter() - t0) * 1000,
                query=query,
                hits=tuple(RecordedHit(h.text, h.score) for h in hits),
            ),
        )
        return hits

    async def _call_model(
        self,
        agent: AgentDefinition,
        messages: list[dict[str, Any]],
        native_tools: list[dict[str, Any]] | None,
        hold_tool_lines: bool,
        state: RunState,
        queue: asyncio.Queue[RunEvent | None],
        forced: bool = False,
    ) -> tuple[str, list[protocol.ParsedCall]]:
        spec = agent.spec
        started = time.time()
        t0 = time.perf_counter()
        content = ""
        held = ""
        streaming = not hold_tool_lines
        usage = Usage()
        first_token_ms: float | None = None
        calls: dict[int, dict[str, str]] = {}
        with tracing.chat_span(
            spec.model_ref,
            agent.name,
            temperature=spec.temperature,
            max_tokens=spec.limits.max_tokens,
            seed=spec.seed,
            server=self.client.base_url,
        ) as traced:
            async for chunk in self.client.chat_stream(
                messages,
                spec.model_ref,
                max_tokens=spec.limits.max_tokens,
                temperature=spec.temperature,
                seed=spec.seed,
                tools=native_tools,
                tool_choice="required" if forced else None,
                agent=agent.name,
                priority=state.context.priority,
                deadline=state.context.deadline,
                on_backoff=self._backoff_recorder(state),
            ):
                usage.add(chunk)
                for delta in chunk.tool_calls:
                    slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = delta.id or slot["id"]
                    slot["name"] += delta.name
                    slot["arguments"] += delta.arguments
                if not chunk.content:
                    continue
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - t0) * 1000
                content += chunk.content
                if streaming:
                    await queue.put(Token(chunk.content))
                    continue
                held += chunk.content
                if not protocol.may_become_call(held):
                    streaming = True
                    await queue.put(Token(held))
            traced.finish(
                input_tokens=usage.prompt,
                output_tokens=usage.completion,
                finish_reason="tool_calls" if calls else "stop",
                first_token_s=None if first_token_ms is None else first_token_ms / 1000,
                messages=messages,
                output=content,
            )
        state.usage.prompt += usage.prompt
        state.usage.completion += usage.completion
        parsed = [
            protocol.ParsedCall(c["name"], protocol.json_object(c["arguments"]), c["id"] or f"call_{i}")
            for i, c in sorted(calls.items())
        ]
        self._record(
            state,
            LlmStep(
                started_at=started,
                duration_ms=(time.perf_counter() - t0) * 1000,
                prompt_tokens=usage.prompt,
                completion_tokens=usage.completion,
                model=spec.model_ref,
                messages=tuple(Message.of(m) for m in messages),
                response=content,
                tool_calls=tuple(ToolCall(c.name, json.dumps(c.arguments), c.id) for c in parsed),
                native_tools=native_tools is not None,
                tool_choice="required" if forced else None,
                exchange_key=chat_key(messages, spec.model_ref, native_tools),  # smoke add --from-run
                first_token_ms=first_token_ms,
            ),
        )
        return content, parsed

    async def _call_tool(
        self,
        agent_limits: LimitsSpec,
        tools: dict[str, Tool],
        call: protocol.ParsedCall,
        state: RunState,
        queue: asyncio.Queue[RunEvent | None],
    ) -> str:
        replacement = None
        if self.debugger is not None:  # edited arguments are what the tool receives
            tool = tools.get(call.name)
            delegation = tool is not None and (tool.delegate or tool.remote is not None)
            call, replacement = await debug_tool(self.debugger, state.run_id, call, delegation)
        await queue.put(ToolCalled(call.name, call.arguments))
        started = time.time()
        t0 = time.perf_counter()
        error: str | None = None
        problems: list[str] = []
        tool = tools.get(call.name)
        with tracing.tool_span(call.name, call.id, tool.description if tool else None) as span:
            try:
                if replacement is not None:  # the debugger gave the result: the tool is not called
                    result = replacement
                elif tool is None:
                    raise LookupError(f"unknown tool {call.name!r}; available: {', '.join(tools)}")
                else:
                    result = await self._invoke(tool, call, agent_limits, state)
            except Exception as exc:  # a failing tool is reported to the model, not fatal to the run
                error = f"{type(exc).__name__}: {exc}"
                result = f"error: {error}"
                problems = list(getattr(exc, "problems", ()))
            span.finish(arguments=call.arguments, result=result)
        self._record(
            state,
            tool_step(
                started_at=started,
                duration_ms=(time.perf_counter() - t0) * 1000,
                tool=call.name,
                arguments=call.arguments,
                result=result,
                call="native" if call.id else "text",
                valid=error is None or (not problems and call.name in tools),
                problems=tuple(problems),
                remote=state.remote_calls.pop(state.seq + 1, None),
                error=error,
            ),
        )
        await queue.put(ToolReturned(call.name, result, error is not None))
        return result

    async def _invoke(
        self, tool: Tool, call: protocol.ParsedCall, agent_limits: LimitsSpec, state: RunState
    ) -> str:
        problems = tool.argument_problems(call.arguments)
        if problems:
            raise ArgumentProblems(problems)
        replayed = None if tool.delegate else await self.client.replayed_tool(call.name, call.arguments)
        if tool.delegate:  # the child run's own model calls are what a cassette replays
            return await tool.call(call.arguments, max(1.0, (state.context.deadline or 0) - now()))
        if replayed is not None:  # a cassette's answer: a clock or a search replays alike
            return replayed
        if tool.remote is not None and self.client.offline:
            raise LookupError(f"the cassette has no answer from the remote agent at {tool.remote}")
        timeout_s = state.context.timeout_s if tool.remote is not None else agent_limits.tool_timeout_s
        result = await tool.call(call.arguments, timeout_s)
        self.client.recorded_tool(call.name, call.arguments, result)
        return result
