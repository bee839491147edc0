"""Agents written with a framework (LangChain, CrewAI, ...): a ``module:function`` entrypoint.

The function gets the input and a context that points the framework at the gateway; the runtime
records the call as a step, so framework agents are traced like any other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.util
import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sutazai.agents.run_record import EntrypointStep
from sutazai.errors import Problem, SpecError, UserError
from sutazai.wire import AGENT_HEADER, PRIORITY_HEADER, RUN_BUDGET_HEADER, RUN_HEADER

if TYPE_CHECKING:
    from sutazai.agents.loader import AgentDefinition
    from sutazai.agents.run_state import RunState
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.agents.tools import Tool


ToolHook = Callable[[str, dict[str, Any], str, "str | None", float], None]


@dataclass(frozen=True)
class AgentContext:
    """What a framework needs to use the gateway as an OpenAI-compatible model, and ``traced`` to
    make its tools' calls steps of the run (shown in traces, checked by smoke ``tool_called``)."""

    agent: str
    run_id: str
    model: str
    base_url: str  # ends in /v1
    api_key: str
    system_prompt: str
    headers: dict[str, str]
    on_tool: ToolHook | None = None
    delegates: dict[str, Tool] = field(default_factory=dict)  # the agents it may call, by name
    loop: asyncio.AbstractEventLoop | None = None

    def ask(self, agent: str, text: str) -> str:
        """Run ``agent`` (one of this agent's ``delegates``) on ``text`` and return its answer; the
        child run is recorded under this run. For frameworks' worker threads (sync entrypoints)."""
        if self.loop is None:
            raise RuntimeError("ask() needs the runtime's event loop; in an async entrypoint use ask_async()")
        return asyncio.run_coroutine_threadsafe(self.ask_async(agent, text), self.loop).result()

    async def ask_async(self, agent: str, text: str) -> str:
        from sutazai.agents.delegation import tool_name

        tool = self.delegates.get(tool_name(agent))
        if tool is None:
            listed = ", ".join(sorted(self.delegates)) or "none"
            raise LookupError(f"{self.agent} may not call {agent!r}: add it to `delegates` (has: {listed})")
        t0 = time.perf_counter()
        try:
            answer = str(await tool.function(input=text))
        except Exception as exc:
            if self.on_tool is not None:
                self.on_tool(tool.name, {"input": text}, "", f"{type(exc).__name__}: {exc}", _ms(t0))
            raise
        if self.on_tool is not None:
            self.on_tool(tool.name, {"input": text}, answer, None, _ms(t0))
        return answer

    def traced(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, recording each call; signature and docstring are kept, so a framework's
        tool decorator (``@tool``, ``kernel_function``, ...) reads it as before."""
        hook = self.on_tool

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            arguments = {**dict(zip(inspect.signature(function).parameters, args, strict=False)), **kwargs}
            t0 = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                if hook is not None:
                    hook(function.__name__, arguments, "", f"{type(exc).__name__}: {exc}", _ms(t0))
                raise
            if hook is not None:
                hook(function.__name__, arguments, str(result), None, _ms(t0))
            return result

        return call


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def resolve(agent: AgentDefinition) -> Callable[..., Any]:
    """Load ``module:function`` from the agent's own folder, under a module name unique to the
    agent: every scaffold names its module ``agent_main``, and a plain import would hand agent B
    the module agent A loaded first, in any process that runs both (TUI, smoke runner, MCP)."""
    module_name, _, function_name = (agent.spec.entrypoint or "").partition(":")
    if not module_name or not function_name:
        raise SpecError(Problem("entrypoint must look like `module:function`", agent.spec_file))
    folder = agent.folder.resolve()
    path = (folder / (module_name.replace(".", "/") + ".py")).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise SpecError(
            Problem(
                f"entrypoint {agent.spec.entrypoint!r}: no {module_name}.py in {agent.folder}",
                agent.spec_file,
            )
        )
    unique = f"sutazai_agent_entry.{agent.name.replace('-', '_')}.{module_name}"
    module = _load(unique, path)
    try:
        return getattr(module, function_name)  # type: ignore[no-any-return]
    except AttributeError as exc:
        raise SpecError(Problem(f"entrypoint {agent.spec.entrypoint!r}: {exc}", agent.spec_file)) from None


def _load(name: str, path: Path) -> ModuleType:
    """The module at ``path`` as ``name``, loaded again only when the file changed (hot reload)."""
    stamp = path.stat().st_mtime_ns
    cached = sys.modules.get(name)
    if cached is not None and getattr(cached, "__sutazai_stamp__", None) == stamp:
        return cached
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpecError(Problem(f"cannot import {path.name}", path))
    module = importlib.util.module_from_spec(spec)
    module.__sutazai_stamp__ = stamp  # type: ignore[attr-defined]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SpecError(
            Problem(
                f"{path.name} failed to import: {type(exc).__name__}: {exc}",
                path,
                getattr(exc, "lineno", None),
            )
        ) from None
    return module


async def run_entrypoint(
    runtime: AgentRuntime,
    agent: AgentDefinition,
    user_input: str,
    state: RunState,
    record: Callable[[EntrypointStep], None],
    on_tool: ToolHook | None = None,
    delegates: dict[str, Tool] | None = None,
) -> str:
    """Call the entrypoint with a context whose headers carry the run's priority and id: the
    framework's model calls are scheduled as the run asks and counted in its tokens and budget."""
    function = resolve(agent)
    usage = GatewayUsage(runtime, state)
    context = AgentContext(
        agent=agent.name,
        run_id=state.run_id,
        model=agent.spec.model_ref,
        base_url=runtime.client.base_url + "/v1",
        api_key=runtime.client.token or "sutazai-local",
        system_prompt=agent.system_prompt,
        headers=run_headers(agent.name, state),
        on_tool=on_tool,
        delegates={name: usage.counted_before(tool) for name, tool in (delegates or {}).items()},
        loop=asyncio.get_running_loop(),
    )
    started, t0 = time.time(), time.perf_counter()
    try:
        if inspect.iscoroutinefunction(function):
            result = await function(user_input, context)
        else:
            result = await asyncio.to_thread(function, user_input, context)
    finally:
        await usage.sync()
    output = str(result)
    record(
        EntrypointStep(
            started_at=started,
            duration_ms=(time.perf_counter() - t0) * 1000,
            entrypoint=agent.spec.entrypoint or "",
            input=user_input,
            response=output,
        )
    )
    return output


def run_headers(agent: str, state: RunState) -> dict[str, str]:
    headers = {AGENT_HEADER: agent, PRIORITY_HEADER: state.context.priority, RUN_HEADER: state.run_id}
    if state.context.budget is not None:
        headers[RUN_BUDGET_HEADER] = str(max(state.context.budget - state.used, 0))
    return headers


class GatewayUsage:
    """The framework's own model calls, as the gateway counted them for this run (its children
    count their own), added to the run's usage: at the end, and before each delegation so the
    child inherits what is really left of the budget."""

    def __init__(self, runtime: AgentRuntime, state: RunState) -> None:
        self.runtime = runtime
        self.state = state
        self.prompt = 0
        self.completion = 0

    async def sync(self) -> None:
        try:
            prompt, completion = await self.runtime.client.run_usage(self.state.run_id)
        except UserError:  # an older gateway or no token: the tokens stay as the runtime saw them
            return
        self.state.usage.prompt += prompt - self.prompt
        self.state.usage.completion += completion - self.completion
        self.prompt, self.completion = prompt, completion

    def counted_before(self, tool: Tool) -> Tool:
        original = tool.function

        async def call(**arguments: Any) -> Any:
            await self.sync()
            return await original(**arguments)

        return dataclasses.replace(tool, function=call)
