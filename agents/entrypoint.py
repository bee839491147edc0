"""Agents written with a framework (LangChain, CrewAI, ...): a ``module:function`` entrypoint.

The function gets the input and a context that points the framework at the gateway; the runtime
records the call as a step, so framework agents are traced like any other.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sutazai.errors import Problem, SpecError

if TYPE_CHECKING:
    from sutazai.agents.loader import AgentDefinition
    from sutazai.agents.runtime import AgentRuntime


@dataclass(frozen=True)
class AgentContext:
    """What a framework needs to use the gateway as an OpenAI-compatible model."""

    agent: str
    run_id: str
    model: str
    base_url: str  # ends in /v1
    api_key: str
    system_prompt: str
    headers: dict[str, str]


def resolve(agent: AgentDefinition) -> Callable[..., Any]:
    module_name, _, function_name = (agent.spec.entrypoint or "").partition(":")
    if not module_name or not function_name:
        raise SpecError(Problem("entrypoint must look like `module:function`", agent.spec_file))
    folder = str(agent.folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
        return getattr(module, function_name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise SpecError(Problem(f"entrypoint {agent.spec.entrypoint!r}: {exc}", agent.spec_file)) from None


async def run_entrypoint(
    runtime: AgentRuntime,
    agent: AgentDefinition,
    user_input: str,
    run_id: str,
    record: Callable[[str, float, float, dict[str, Any]], None],
) -> str:
    function = resolve(agent)
    context = AgentContext(
        agent=agent.name,
        run_id=run_id,
        model=agent.spec.model_ref,
        base_url=runtime.client.base_url + "/v1",
        api_key="sutazai-local",
        system_prompt=agent.system_prompt,
        headers={"X-Sutazai-Agent": agent.name, "X-Sutazai-Priority": agent.spec.priority},
    )
    started, t0 = time.time(), time.perf_counter()
    if inspect.iscoroutinefunction(function):
        result = await function(user_input, context)
    else:
        result = await asyncio.to_thread(function, user_input, context)
    output = str(result)
    record(
        "entrypoint",
        started,
        (time.perf_counter() - t0) * 1000,
        {"entrypoint": agent.spec.entrypoint, "input": user_input, "response": output},
    )
    return output
