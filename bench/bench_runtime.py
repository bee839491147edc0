"""Runtime figures: 150 idle agents in one process (RSS), and a run's overhead outside the model call.

``--tracing compare`` measures the run overhead with tracing off and on (spans and metrics exported
over OTLP/HTTP to a local receiver that accepts everything), each in its own process, interleaved
over rounds: what tracing costs per model call (one model call a run here).

.venv/bin/python -m bench.bench_runtime [--agents 150] [--runs 200] [--tracing compare --rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.procs import free_port, process
from bench.workspaces import make_workspace


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--tracing", choices=("off", "compare"), default="off")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.tracing == "compare":
        compare_tracing(args.agents, args.runs, args.rounds)
        return
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", args.agents)
        port = free_port()
        engine = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
            before = rss_mb()
            workspace = Workspace(root, flags={"gateway": {"url": engine}})
            catalog = AgentCatalog.scan(workspace)
            runtime = AgentRuntime(workspace, GatewayClient(engine), RunStore(workspace.runs_db))
            for agent in catalog.agents.values():
                _ = agent.tools  # import every tools.py: idle, but fully loaded
            after = rss_mb()
            print(
                f"{len(catalog.agents)} idle agents: process RSS {after:.1f} MB "
                f"(interpreter and libraries {before:.1f} MB, agents {after - before:.1f} MB, "
                f"{(after - before) * 1024 / len(catalog.agents):.0f} KB each); target < 300 MB total"
            )

            agent = catalog.get("agent-000")  # a document agent: no memory call, one model call
            body = {"model": "fast", "messages": [{"role": "user", "content": "x"}], "stream": True}

            async def measure() -> tuple[list[float], list[float]]:
                bare: list[float] = []
                runs: list[float] = []
                async with httpx.AsyncClient(base_url=engine) as client:
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                            async for _line in r.aiter_lines():
                                pass
                        bare.append((time.perf_counter() - t0) * 1000)
                        t0 = time.perf_counter()
                        async for _event in runtime.run(agent, "Summarise: x"):
                            pass
                        runs.append((time.perf_counter() - t0) * 1000)
                return bare, runs

            bare, runs = asyncio.run(measure())
            overhead = statistics.median(runs) - statistics.median(bare)
            print(
                f"model call alone p50 {statistics.median(bare):.2f} ms; whole run p50 {statistics.median(runs):.2f} ms; "
                f"run overhead outside the model call {overhead:.2f} ms (target < 5 ms)"
            )


def compare_tracing(agents: int, runs: int, rounds: int) -> None:
    import os
    import re
    import subprocess
    import threading

    from aiohttp import web

    received = {"posts": 0}

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        received["posts"] += 1
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/traces", accept)
    app.router.add_post("/v1/metrics", accept)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    results: dict[str, list[float]] = {"off": [], "on": []}
    for r in range(rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            env = dict(os.environ)
            env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
            if mode == "on":
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_runtime", "--agents", str(agents), "--runs", str(runs)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            overhead = float(re.search(r"outside the model call ([0-9.]+) ms", out).group(1))  # type: ignore[union-attr]
            results[mode].append(overhead)
            print(f"round {r + 1} tracing {mode:<3} run overhead {overhead:.2f} ms", flush=True)
    off, on = statistics.median(results["off"]), statistics.median(results["on"])
    print(
        f"run overhead outside the model call, median (min-max) of {rounds}: tracing off {off:.2f} "
        f"({min(results['off']):.2f}-{max(results['off']):.2f}) ms, on {on:.2f} "
        f"({min(results['on']):.2f}-{max(results['on']):.2f}) ms; tracing costs {on - off:.2f} ms a run "
        f"(one model call, one agent span) (target < 1 ms per call); {received['posts']} OTLP posts received"
    )


if __name__ == "__main__":
    main()
