"""Benchmark: what the debug engine costs, and that a paused run holds no engine slot (issue 25).

1. A run of an agent that calls one tool (two model calls: five debug points) against an instant
   engine, in one process, without a debugger and with one attached but no breakpoint, interleaved
   over rounds, medians of ``--runs`` each. Target: < 1 ms more per run.
2. A run paused at a breakpoint on its prompt file while 150 agents load the engine through the
   gateway (an engine of 8 slots taking 200 ms an answer, so requests queue): ``/admin/queue`` sampled every 50 ms shows the paused agent with nothing in flight or
   waiting, beside the fleet's requests in flight and queued (the control that shows the engine
   was busy). Then it is resumed and ends ok.

    .venv/bin/python -m bench.bench_debug [--runs 300] [--rounds 3] [--seconds 5]
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

from bench.procs import ADMIN, free_port, gateway, process
from bench.report import spread

FLEET = 150


def _agent(root: Path, name: str, extra: str = "") -> None:
    folder = root / "agents" / name
    folder.mkdir(parents=True)
    (folder / "prompt.md").write_text(f"You are {name}.\n")
    (folder / "agent.yaml").write_text(
        f"name: {name}\ndescription: The {name}.\nkind: document\nprompt:\n  file: prompt.md\n"
        f"tool_protocol: text\n{extra}limits:\n  max_iterations: 3\nsmoke: null\n"
    )


def overhead(root: Path, engine: str, runs: int, rounds: int) -> None:
    from sutazai.agents.debugger import Debugger
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import load_agent
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.workspace import Workspace

    workspace = Workspace(root, flags={"gateway": {"url": engine}})
    runtime = AgentRuntime(workspace, GatewayClient(engine), RunStore(workspace.runs_db))
    agent = load_agent(root / "agents" / "worker")
    text = 'call TOOL: word_count {"text": "x"}'
    modes = {"no debugger": None, "debugger, no breakpoint": Debugger()}

    async def once() -> float:
        t0 = time.perf_counter()
        status = ""
        async for event in runtime.run(agent, text):
            status = getattr(event, "status", status)
        assert status == "ok", status
        return (time.perf_counter() - t0) * 1000

    async def measure() -> dict[str, list[float]]:
        medians: dict[str, list[float]] = {m: [] for m in modes}
        for debugger in modes.values():  # warm both paths
            runtime.debugger = debugger
            for _ in range(30):
                await once()
        for r in range(rounds):
            for name in list(modes)[r % 2 :] + list(modes)[: r % 2]:
                runtime.debugger = modes[name]
                medians[name].append(statistics.median([await once() for _ in range(runs)]))
        return medians

    medians = asyncio.run(measure())
    for name, values in medians.items():
        print(f"{name:<26} run p50 {spread(values, 3)} ms")
    extra = [d - n for d, n in zip(medians["debugger, no breakpoint"], medians["no debugger"], strict=True)]
    print(f"debugger attached, no breakpoint: {spread(extra, 3)} ms more per run (target < 1 ms)\n")


def paused_under_load(root: Path, url: str, seconds: float) -> None:
    from sutazai.agents.breakpoints import SourceBreakpoint, meaningful_lines
    from sutazai.agents.debugger import Debugger
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import load_agent
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.workspace import Workspace

    workspace = Workspace(root, flags={"gateway": {"url": url}})
    fleet = [load_agent(root / "agents" / f"fleet-{i:03d}") for i in range(FLEET)]
    debugged = load_agent(root / "agents" / "debugged")
    prompt = root / "agents" / "debugged" / "prompt.md"
    samples: list[
        tuple[int, int, int]
    ] = []  # (paused agent's in flight + waiting, fleet in flight, fleet waiting)
    errors = 0

    async def main() -> None:
        nonlocal errors
        client = GatewayClient(url, token=ADMIN["Authorization"].split()[1])
        runtime = AgentRuntime(workspace, client, RunStore(workspace.runs_db))
        stopped = asyncio.Event()
        debugger = Debugger(on_stop=lambda _: stopped.set())
        debugger.breakpoints.set_file(prompt, [SourceBreakpoint(1)], meaningful_lines(prompt))
        runtime.debugger = debugger
        deadline = time.perf_counter() + seconds + 2

        async def agent_loop(agent: object) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                async for event in runtime.run(agent, "hello"):  # type: ignore[arg-type]
                    if getattr(event, "status", "ok") not in ("ok",):
                        errors += 1

        def sample() -> None:  # on a thread of its own: the fleet's loop must not starve it
            with httpx.Client(base_url=url, headers=ADMIN, timeout=5) as http:
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    queue = http.get("/admin/queue").json()["agents"]
                    mine = queue.get("debugged", {})
                    others = [v for k, v in queue.items() if k != "debugged"]
                    samples.append(
                        (
                            mine.get("in_flight", 0) + mine.get("waiting", 0),
                            sum(v["in_flight"] for v in others),
                            sum(v["waiting"] for v in others),
                        )
                    )
                    time.sleep(0.05)

        async def debugged_run() -> str:
            status = ""
            async for event in runtime.run(debugged, "hello"):
                status = getattr(event, "status", status)
            return status

        loops = [asyncio.create_task(agent_loop(a)) for a in fleet]
        paused = asyncio.create_task(debugged_run())
        await asyncio.wait_for(stopped.wait(), 30)
        await asyncio.to_thread(sample)
        debugger.resume_all("continue")
        status = await paused
        await asyncio.gather(*loops)
        await client.aclose()
        print(f"the paused run, resumed after {seconds:g} s: {status}")

    asyncio.run(main())
    held = max(s[0] for s in samples)
    print(
        f"{len(samples)} samples of /admin/queue while paused: the paused agent held {held} slots "
        f"(in flight + waiting, max); the fleet had up to {max(s[1] for s in samples)} in flight and "
        f"{max(s[2] for s in samples)} waiting (median {statistics.median(s[1] for s in samples):.0f} / "
        f"{statistics.median(s[2] for s in samples):.0f}); fleet errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from sutazai.scaffolds.generate import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws")
        _agent(root, "worker", "tools: [word_count]\n")
        _agent(root, "debugged")
        for i in range(FLEET):
            _agent(root, f"fleet-{i:03d}")
        port = free_port()
        engine = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
            overhead(root, engine, args.runs, args.rounds)
            engines = f'[[stack.engines]]\nname = "instant"\nkind = "openai"\nurl = "{engine}"\nslots = 8\nmodels = ["instant"]\n'
        busy_port = free_port()
        busy = f"http://127.0.0.1:{busy_port}"  # 200 ms an answer: the fleet keeps it loaded
        engines = engines.replace(engine, busy)
        with process([sys.executable, "-m", "bench.instant_engine", str(busy_port), "200"], busy + "/health"):
            with gateway(engines) as url:
                paused_under_load(root, url, args.seconds)


if __name__ == "__main__":
    main()
