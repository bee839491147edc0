"""Benchmark: what one delegation hop costs outside the model calls (issue 17: < 5 ms).

Against an instant engine, one process, interleaved over rounds, medians of ``--runs`` each:

- ``child alone``: the callee's run (one model call);
- ``parent, plain tool``: the caller with a built-in tool instead (two model calls and a tool);
- ``parent, delegating``: the caller asking the callee (two model calls, then the child's run).

The hop = delegating - plain tool - child alone: starting a child run under the parent (its run
record with parent and step, inherited deadline, budget and priority) and reporting back.

    .venv/bin/python -m bench.bench_delegation [--runs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import free_port, process
from bench.report import spread


def _agent(root: Path, name: str, extra: str) -> None:
    folder = root / "agents" / name
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text(
        f"name: {name}\ndescription: The {name}.\nkind: document\nprompt: You are {name}.\n"
        f"tool_protocol: text\n{extra}limits:\n  max_iterations: 3\nsmoke: null\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.scaffolds.generate import init_workspace
    from sutazai.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws")
        _agent(root, "child", "")
        _agent(root, "parent", "delegates: [child]\ntools: [word_count]\n")
        port = free_port()
        engine = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
            workspace = Workspace(root, flags={"gateway": {"url": engine}})
            catalog = AgentCatalog.scan(workspace)
            runtime = AgentRuntime(workspace, GatewayClient(engine), RunStore(workspace.runs_db))
            modes = {
                "child alone": (catalog.get("child"), "x"),
                "parent, plain tool": (catalog.get("parent"), 'call TOOL: word_count {"text": "x"}'),
                "parent, delegating": (catalog.get("parent"), 'call TOOL: ask_child {"input": "x"}'),
            }

            async def once(agent: object, text: str) -> float:
                t0 = time.perf_counter()
                status = ""
                async for event in runtime.run(agent, text):  # type: ignore[arg-type]
                    status = getattr(event, "status", status)
                assert status == "ok", status
                return (time.perf_counter() - t0) * 1000

            async def measure() -> dict[str, list[float]]:
                medians: dict[str, list[float]] = {m: [] for m in modes}
                for agent, text in modes.values():  # warm every path first
                    for _ in range(20):
                        await once(agent, text)
                for r in range(args.rounds):
                    names = list(modes)[r % 3 :] + list(modes)[: r % 3]
                    for name in names:
                        agent, text = modes[name]
                        times = [await once(agent, text) for _ in range(args.runs)]
                        medians[name].append(statistics.median(times))
                return medians

            medians = asyncio.run(measure())
    for name, values in medians.items():
        print(f"{name:<20} run p50 {spread(values, 2)} ms")
    hop = [
        d - t - c
        for d, t, c in zip(
            medians["parent, delegating"], medians["parent, plain tool"], medians["child alone"], strict=True
        )
    ]
    print(f"delegation hop outside the model calls: {spread(hop, 2)} ms per round (target < 5 ms)")


if __name__ == "__main__":
    main()
