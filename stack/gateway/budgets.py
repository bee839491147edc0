"""Daily token budgets per agent (``[budgets]`` in ``sutazai.toml``), enforced at the gateway.

An agent that has used its day's tokens (prompt + completion, as the engines counted them) gets a
429 naming the budget, with ``Retry-After`` until midnight UTC and ``X-SutazAI-Budget: exceeded``
so clients stop rather than back off; answers from the response cache cost nothing. The count is
kept per UTC day for at most ``max_agents`` agents and written to ``.sutazai/budgets.json`` (0600)
while the gateway runs, so a restart does not hand every agent a fresh day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from sutazai.gateway_report import BudgetUse
from sutazai.stack.gateway.bounded import LRUDict
from sutazai.stack.gateway.types import GatewayHTTPError


class BudgetExceeded(GatewayHTTPError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(429, message, retry_after, "budget_exceeded")


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _seconds_to_midnight() -> float:
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    return max(1.0, (midnight - now).total_seconds())


class DailyBudgets:
    def __init__(
        self, default: int, per_agent: dict[str, int], path: Path | None = None, max_agents: int = 1024
    ) -> None:
        self.default = default
        self.per_agent = dict(per_agent)
        self.path = path
        self.day = _today()
        self.used: LRUDict[str, int] = LRUDict(max_agents)
        self._dirty = False
        self._load()

    @property
    def active(self) -> bool:
        return bool(self.default or self.per_agent)

    def limit(self, agent: str) -> int:
        return self.per_agent.get(agent, self.default)

    def _roll(self) -> None:
        if (today := _today()) != self.day:
            self.day = today
            self.used.clear()
            self._dirty = True

    def check(self, agent: str) -> None:
        """Refuse an agent whose day's budget is spent."""
        limit = self.limit(agent)
        if not limit:
            return
        self._roll()
        used = self.used.get(agent, 0)
        if used >= limit:
            raise BudgetExceeded(
                f"agent {agent!r} has used {used:,} of its daily token budget of {limit:,} "
                "([budgets] in sutazai.toml); it resets at 00:00 UTC",
                _seconds_to_midnight(),
            )

    def charge(self, agent: str, tokens: int) -> None:
        if tokens <= 0 or not self.limit(agent):
            return
        self._roll()
        self.used[agent] = self.used.get(agent, 0) + tokens
        self._dirty = True

    def report(self) -> dict[str, BudgetUse]:
        self._roll()
        agents = {*self.per_agent, *self.used}
        return {
            a: BudgetUse(used=self.used.get(a, 0), limit=self.limit(a))
            for a in sorted(agents)
            if self.limit(a)
        }

    def _load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # a damaged file starts the day afresh rather than stop the gateway
        if data.get("day") == self.day and isinstance(data.get("used"), dict):
            for agent, tokens in data["used"].items():
                if isinstance(agent, str) and isinstance(tokens, int):
                    self.used[agent] = tokens

    def save(self) -> None:
        """Write the day's counts atomically, owner-only; a no-op when nothing changed."""
        if self.path is None or not self._dirty:
            return
        self._dirty = False
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".budgets-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"day": self.day, "used": dict(self.used.items())}, fh)
        os.replace(temporary, self.path)
