"""One run while it runs: its context (priority, deadline, budget, place in a delegation tree),
resolved once when it starts and passed down, the tokens it has used, and the budget rule checked
before every model call."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sutazai.errors import BudgetExceeded, Problem
from sutazai.wire import Priority

if TYPE_CHECKING:
    from sutazai.agents.gateway_client import ChatChunk
    from sutazai.agents.loader import AgentDefinition
    from sutazai.agents.spec import AgentSpec


@dataclass
class Usage:
    prompt: int = 0
    completion: int = 0

    def add(self, chunk: ChatChunk) -> None:
        self.prompt += chunk.prompt_tokens
        self.completion += chunk.completion_tokens


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What a run may do and where it sits, decided once when it starts. A child run gets its
    parent's (``inherited``), tightened by its own spec (``resolve``): nothing else decides
    priority, deadline or budget."""

    priority: Priority
    deadline: float | None  # event-loop time the run must end by
    budget: int | None  # tokens this run may use, children included (None: no limit)
    depth: int = 0  # 0: started by a user; n: n levels of delegation below one
    max_depth: int = 3  # the deepest level delegation may reach below the run a user started
    parent_run: str | None = None  # the run whose tool call started this one
    parent_step: int | None = None  # that call's step in the parent run
    root_run: str | None = None  # the first run of its delegation tree (a conversation, in traces)

    @classmethod
    def resolve(
        cls, spec: AgentSpec, requested: Priority | None = None, parent: RunContext | None = None
    ) -> RunContext:
        """The context of a run of ``spec``: the priority asked for, else the caller's, else the
        spec's; the tighter of the spec's limits and what the caller has left."""
        limits = spec.limits
        started = now()
        deadline = started + limits.timeout_s
        budget = limits.max_total_tokens
        depth = parent.depth if parent else 0
        max_depth = depth + limits.max_depth
        if parent is not None:
            deadline = max(started + 0.001, min(deadline, parent.deadline or math.inf))
            budget = parent.budget if budget is None else min(budget, parent.budget or budget)
            max_depth = min(max_depth, parent.max_depth)
        return cls(
            priority=requested or (parent.priority if parent else None) or spec.priority,
            deadline=deadline,
            budget=budget,
            depth=depth,
            max_depth=max_depth,
            parent_run=parent.parent_run if parent else None,
            parent_step=parent.parent_step if parent else None,
            root_run=parent.root_run if parent else None,
        )

    @property
    def timeout_s(self) -> float:
        return math.inf if self.deadline is None else max(0.001, self.deadline - now())

    def inherited(self, run_id: str, step: int, used: int) -> RunContext:
        """What a child started by ``run_id``'s ``step`` inherits: one level deeper, this run's
        deadline and priority, what is left of its budget."""
        return RunContext(
            priority=self.priority,
            deadline=self.deadline,
            budget=None if self.budget is None else max(self.budget - used, 1),
            depth=self.depth + 1,
            max_depth=self.max_depth,
            parent_run=run_id,
            parent_step=step,
            root_run=self.root_run or run_id,
        )


@dataclass
class RunState:
    run_id: str
    context: RunContext
    seq: int = 0
    usage: Usage = field(default_factory=Usage)
    delegations: int = 0
    timer: asyncio.Timeout | None = None  # the run's deadline while it runs
    remote_calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # step → its A2A task

    def extend(self, seconds: float) -> None:
        """Move the deadline on (a debugger paused the run): the timer and what children inherit."""
        if self.timer is not None and (when := self.timer.when()) is not None:
            self.timer.reschedule(when + seconds)
        if self.context.deadline is not None:
            self.context = replace(self.context, deadline=self.context.deadline + seconds)

    @property
    def used(self) -> int:
        return self.usage.prompt + self.usage.completion


def now() -> float:
    return asyncio.get_running_loop().time()


def running_on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this code runs on ``loop`` (a framework may call back from its own thread)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def within_budget(agent: AgentDefinition, state: RunState) -> None:
    """Before a model call: a run that has spent ``limits.max_total_tokens`` (or, for a child,
    what its parent had left) stops here."""
    limit = state.context.budget
    used = state.used
    if limit is not None and used >= limit:
        raise BudgetExceeded(
            Problem(
                f"run used {used:,} tokens of its budget of {limit:,} (limits.max_total_tokens)",
                agent.spec_file,
                hint="raise limits.max_total_tokens in agent.yaml, or lower limits.max_iterations",
            )
        )
