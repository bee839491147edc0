"""Backend: live gateway figures (queue depth per priority, in flight per engine, batch sizes,
tokens/s, p50/p95, cache hit rate), refreshed every second, with sparklines, and the queue itself:
who waits, by agent and by priority (``/admin/queue``)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

if TYPE_CHECKING:  # httpx and pydantic load on the first poll, not before the first paint
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.gateway_report import QueueSnapshot, StatsSnapshot
    from sutazai.workspace import Workspace

HISTORY = 60


class BackendPane(Vertical):
    """Polls ``/admin/stats`` once a second while it is on screen; hidden, it costs nothing."""

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.url = "the gateway"
        self.tokens: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        self.queued: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        self._warned = False
        self._client: GatewayClient | None = None
        self._last: StatsSnapshot | None = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the gateway's figures…", id="backend-summary")
        with Horizontal(id="sparks"):
            with Vertical():
                yield Label("tokens/s")
                yield Sparkline(list(self.tokens), id="spark-tokens")
            with Vertical():
                yield Label("queued")
                yield Sparkline(list(self.queued), id="spark-queue")
        engines: DataTable[str] = DataTable(id="engines-table")
        engines.add_columns("engine", "kind", "health", "breaker", "in flight", "slots", "queued i/n/b")
        yield engines
        yield Static("nobody waiting", id="queue-summary")
        queue: DataTable[str] = DataTable(id="queue-table")
        queue.add_columns("agent", "in flight", "waiting", "interactive/normal/batch", "oldest wait")
        yield queue
        latency: DataTable[str] = DataTable(id="latency-table")
        latency.add_columns("model / agent", "p50 ms", "p95 ms", "count")
        yield latency

    def on_mount(self) -> None:
        self._poll_timer = self.set_interval(1.0, self.poll, pause=True)

    def on_show(self, event: events.Show) -> None:
        self._poll_timer.resume()
        self.poll()

    def on_hide(self, event: events.Hide) -> None:
        self._poll_timer.pause()

    async def on_unmount(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    @work(exclusive=True, group="backend")
    async def poll(self) -> None:
        from pydantic import ValidationError

        from sutazai.agents.gateway_client import GatewayClient
        from sutazai.errors import UserError

        if self._client is None:
            settings = self.workspace.settings
            self.url = settings.gateway.url
            self._client = GatewayClient.for_workspace(self.workspace, timeout_s=0.8)
        try:
            stats: StatsSnapshot | None = await self._client.stats()
            queue: QueueSnapshot | None = await self._client.queue()
        except (UserError, ValidationError):
            stats = queue = None
        self.show(stats)
        if queue is not None:
            self.show_queue(queue)

    def show_queue(self, queue: QueueSnapshot) -> None:
        counts = queue.by_priority
        waiting = sum(counts.values())
        self.query_one("#queue-summary", Static).update(
            f"queue: {waiting} waiting (interactive {counts['interactive']}, normal {counts['normal']}, "
            f"batch {counts['batch']}) · routing {queue.routing}"
            if waiting
            else f"queue: nobody waiting · routing {queue.routing}"
        )
        table = self.query_one("#queue-table", DataTable)
        table.clear()
        ordered = sorted(queue.agents.items(), key=lambda kv: (-kv[1].waiting, -kv[1].in_flight, kv[0]))
        for name, agent in ordered[:20]:
            by = agent.by_priority
            table.add_row(
                name,
                str(agent.in_flight),
                str(agent.waiting),
                f"{by.get('interactive', 0)}/{by.get('normal', 0)}/{by.get('batch', 0)}",
                f"{agent.oldest_wait_s:.1f} s",
            )

    def show(self, stats: StatsSnapshot | None) -> None:
        summary = self.query_one("#backend-summary", Static)
        summary.set_class(stats is None, "-down")
        if stats is None:
            summary.update(
                f"gateway {self.url} is not answering — start it: Stack tab, u (or `sutazai stack up --detach`)"
            )
            if not self._warned and self.region.area:  # only when the Backend tab is in view
                self.notify("gateway not answering; start the stack (Stack tab, u)", severity="warning")
                self._warned = True
            return
        self._warned = False
        self.tokens.append(stats.tokens_per_s)
        self.queued.append(float(stats.queue_depth.total))
        settled = len(set(self.tokens)) == 1 and len(set(self.queued)) == 1
        if settled and stats.model_copy(update={"uptime_s": 0}) == self._last:
            return  # an idle gateway: nothing on screen would change, so nothing is redrawn
        self._last = stats.model_copy(update={"uptime_s": 0})
        depth, cache = stats.queue_depth, stats.cache
        summary.update(
            f"{stats.tokens_per_s:.1f} tokens/s · queued interactive {depth.interactive} "
            f"normal {depth.normal} batch {depth.batch} · cache hit rate {cache.hit_rate:.0%} "
            f"({cache.entries} entries) · embedding batch {stats.embedding_batch.mean} · "
            f"cached prompt tokens {stats.cached_prompt_tokens}"
            + (
                " · tool calls: " + ", ".join(f"{m} {path}" for m, path in sorted(stats.tool_calls.items()))
                if stats.tool_calls
                else ""
            )
            + _budgets(stats)
        )
        self.query_one("#spark-tokens", Sparkline).data = list(self.tokens)
        self.query_one("#spark-queue", Sparkline).data = list(self.queued)
        engines = self.query_one("#engines-table", DataTable)
        engines.clear()
        for name, e in stats.engines.items():
            q = e.queue_depth
            engines.add_row(
                name,
                e.kind,
                "ok" if e.healthy else "DOWN",
                e.breaker,
                str(e.in_flight),
                str(e.slots),
                f"{q.interactive}/{q.normal}/{q.batch}",
            )
        latency = self.query_one("#latency-table", DataTable)
        latency.clear()
        for label, group in (("model", stats.latency_by_model), ("agent", stats.latency_by_agent)):
            for name, p in sorted(group.items(), key=lambda item: -item[1].count)[:12]:
                latency.add_row(f"{label} {name}", f"{p.p50_ms:.1f}", f"{p.p95_ms:.1f}", str(p.count))


def _budgets(stats: StatsSnapshot) -> str:
    """The daily budgets closest to spent, at most three."""
    if not stats.budgets:
        return ""
    tight = sorted(stats.budgets.items(), key=lambda kv: -kv[1].used / max(kv[1].limit, 1))[:3]
    return " · budgets today: " + ", ".join(f"{a} {b.used:,}/{b.limit:,}" for a, b in tight)
