"""Runtime figures: 150 idle agents in one process (RSS), and a run's overhead outside the model call.

.venv/bin/python -m bench.bench_runtime [--agents 150] [--runs 200]
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
