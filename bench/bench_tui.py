"""The TUI's figures: start-up to first paint with 150 agents (target < 1 s), filtering 1,000 agents
(target < 50 ms), and CPU while idle with the live Backend panel open (target < 5% of a core).

    .venv/bin/python -m bench.bench_tui
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import free_port, gateway, process
from bench.workspaces import make_workspace


async def first_paint(root: Path) -> float:
    from sutazai.workbench.tui.app import WorkbenchApp
    from sutazai.workspace import Workspace

    t0 = time.perf_counter()
    app = WorkbenchApp(Workspace(root), watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        while len(app.agents_pane.rows) == 0:
            await pilot.pause(0.01)
        await pilot.pause(0)
        return time.perf_counter() - t0


async def filter_times(root: Path) -> list[float]:
    from textual.widgets import Input

    from sutazai.workbench.tui.app import WorkbenchApp
    from sutazai.workspace import Workspace

    app = WorkbenchApp(Workspace(root), watch=False)
    times = []
    async with app.run_test(size=(120, 40)) as pilot:
        while len(app.agents_pane.rows) == 0:
            await pilot.pause(0.01)
        box = app.query_one("#agent-filter", Input)
        for query in ["a", "ag", "agent-0", "agent-01", "doc", "c9", "", "agent-07", "z", "0999"] * 3:
            t0 = time.perf_counter()
            box.value = query
            await pilot.pause(0)  # the Changed handler has rebuilt the table
            times.append((time.perf_counter() - t0) * 1000)
    return times


async def idle_cpu(root: Path, url: str, seconds: float) -> float:
    from sutazai.workbench.tui.app import WorkbenchApp
    from sutazai.workspace import Workspace

    app = WorkbenchApp(Workspace(root, flags={"gateway": {"url": url}}), watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause(2.0)
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        await pilot.pause(seconds)
        after = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - t0
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 100 * cpu / wall


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small = make_workspace(Path(tmp) / "ws150", 150)
        big = make_workspace(Path(tmp) / "ws1000", 1000)
        paint = asyncio.run(first_paint(small))
        print(
            f"start-up to first paint, 150 agents: {paint * 1000:.0f} ms (target < 1000 ms; Pilot, in process)"
        )
        times = asyncio.run(filter_times(big))
        print(
            f"filter 1,000 agents: p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms (target < 50 ms)"
        )
        port = free_port()
        engine = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
            engines = (
                f'[[stack.engines]]\nname = "instant"\nkind = "openai"\nurl = "{engine}"\nslots = 8\n'
                'models = ["instant"]\n'
            )
            with gateway(engines) as url:
                cpu = asyncio.run(idle_cpu(small, url, 10.0))
        print(f"CPU while idle with the live Backend panel open: {cpu:.1f}% of a core (target < 5%)")


if __name__ == "__main__":
    main()
