"""Tokens per run, for clients the runtime does not see: a framework agent (LangChain, CrewAI, ...)
talks to the gateway with its own HTTP client, tagged with ``X-Sutazai-Run``. The gateway counts what
each tagged run used, refuses a run past the budget it declares (``X-Sutazai-Run-Budget``), and the
runtime reads the count back (``/admin/runs/{id}/usage``) so the run's tokens and budget include it.
Bounded like every per-client table: the oldest runs are forgotten first."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from sutazai.stack.gateway.bounded import LRUDict
from sutazai.stack.gateway.budgets import BudgetExceeded
from sutazai.stack.gateway.validate import bad
from sutazai.wire import RUN_BUDGET_HEADER, RUN_HEADER

RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass
class RunCount:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def run_tag(request: web.Request) -> tuple[str | None, int | None]:
    """The run a request belongs to and the tokens it may still use, from its headers."""
    run = request.headers.get(RUN_HEADER)
    if run is None:
        return None, None
    if not RUN_ID.fullmatch(run):
        raise bad(f"{RUN_HEADER} must be 1-64 letters, digits, '.', '_' or '-'")
    raw = request.headers.get(RUN_BUDGET_HEADER)
    if raw is None:
        return run, None
    try:
        budget = int(raw)
    except ValueError:
        raise bad(f"{RUN_BUDGET_HEADER} must be a whole number of tokens") from None
    if budget < 0:
        raise bad(f"{RUN_BUDGET_HEADER} must not be negative")
    return run, budget


class RunUsage:
    def __init__(self, max_runs: int = 4096) -> None:
        self.runs: LRUDict[str, RunCount] = LRUDict(max_runs)

    def check(self, run: str | None, budget: int | None) -> None:
        if run is None:
            return
        count = self.runs.touch(run)
        if count is None:
            self.runs[run] = count = RunCount()
        count.requests += 1
        if budget is not None and count.total >= budget:
            raise BudgetExceeded(
                f"run {run} used {count.total:,} tokens of its budget of {budget:,} "
                "(limits.max_total_tokens)",
                retry_after=0,
            )

    def charge(self, run: str | None, prompt_tokens: int, completion_tokens: int) -> None:
        if run is None:
            return
        count = self.runs.touch(run)
        if count is None:
            self.runs[run] = count = RunCount()
        count.prompt_tokens += prompt_tokens
        count.completion_tokens += completion_tokens

    def get(self, run: str) -> RunCount:
        return self.runs.get(run) or RunCount()
