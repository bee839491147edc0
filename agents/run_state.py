"""The state of one run while it runs: its ids and deadline, the tokens it has used, where it sits
in a delegation tree, and the budget rule checked before every model call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sutazai.errors import BudgetExceeded, Problem

if TYPE_CHECKING:
    from sutazai.agents.gateway_client import ChatChunk
    from sutazai.agents.loader import AgentDefinition


@dataclass
class Usage:
    prompt: int = 0
    completion: int = 0

    def add(self, chunk: ChatChunk) -> None:
        self.prompt += chunk.prompt_tokens
        self.completion += chunk.completion_tokens


@dataclass
class RunState:
    run_id: str
    deadline: float | None = None  # event-loop time the run must end by
    seq: int = 0
    usage: Usage = field(default_factory=Usage)
    depth: int = 0  # 0: started by a user; n: n levels of delegation below one
    max_depth: int = 3  # the deepest level delegation may reach below the run a user started
    budget: int | None = None  # tokens this run may use, children included (None: no limit)
    delegations: int = 0


def now() -> float:
    return asyncio.get_running_loop().time()


def within_budget(agent: AgentDefinition, state: RunState) -> None:
    """Before a model call: a run that has spent ``limits.max_total_tokens`` (or, for a child,
    what its parent had left) stops here."""
    limit = state.budget
    used = state.usage.prompt + state.usage.completion
    if limit is not None and used >= limit:
        raise BudgetExceeded(
            Problem(
                f"run used {used:,} tokens of its budget of {limit:,} (limits.max_total_tokens)",
                agent.spec_file,
                hint="raise limits.max_total_tokens in agent.yaml, or lower limits.max_iterations",
            )
        )
