"""Benchmark: what an A2A hop costs beside a local delegation (issue 27: < 5 ms beyond the callee's
run), and 150 concurrent A2A calls with no error.

One instant engine answers both workspaces. The caller's runtime is in this process; the callee is
served by ``sutazai a2a serve`` from a second workspace (its own process, its own run store),
reached over loopback with the official ``a2a-sdk`` client. Interleaved over rounds, medians of
``--runs`` sequential runs each:

- ``child alone``: the callee's run, here (one model call);
- ``parent, plain tool``: the caller with a built-in tool instead (two model calls and a tool);
- ``parent, local child``: the caller delegating to the callee in this workspace;
- ``parent, A2A child``: the caller delegating to the same agent in the other workspace;
- ``A2A call, served child`` / ``A2A call, SDK floor``: the same client call alone, to the served
  agent and to an a2a-sdk server whose agent answers at once (``bench/a2a_floor_server.py``): the
  controls that split the hop into the SDK's own cost, our server's and our caller's.

hop = delegating - plain tool - child alone: everything the delegation adds outside model calls.
For A2A that is the card (cached), the JSON-RPC stream, the remote's task bookkeeping and its run
record. Then ``--concurrent`` callers delegate over A2A at once, for ``--rounds`` rounds: answers,
errors (counted and printed, never timed) and latency percentiles.

    .venv/bin/python -m bench.bench_a2a [--runs 200] [--rounds 3] [--concurrent 150]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import free_port, process
from bench.report import spread

SUTAZAI = str(Path(sys.executable).parent / "sutazai")


def _agent(root: Path, name: str, extra: str) -> None:
    folder = root / "agents" / name
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text(
        f"name: {name}\ndescription: The {name}.\nkind: document\nprompt: You are {name}.\n"
        f"tool_protocol: text\nmemory:\n  enabled: false\n{extra}"
        "limits:\n  max_iterations: 3\n  max_delegations: 8\nsmoke: null\n"
    )


def _workspace(root: Path, engine: str) -> Path:
    from sutazai.scaffolds.generate import init_workspace

    root = init_workspace(root)
    toml = root / "sutazai.toml"
    toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", engine))
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=150)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        engine = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
            remote_root = _workspace(Path(tmp) / "remote", engine)
            _agent(remote_root, "child", "")
            a2a_port = free_port()
            served = f"http://127.0.0.1:{a2a_port}"
            argv = [SUTAZAI, "--workspace", str(remote_root), "a2a", "serve", "--port", str(a2a_port)]
            floor_port = free_port()
            floor = f"http://127.0.0.1:{floor_port}/agents/instant/"
            floor_argv = [sys.executable, "-m", "bench.a2a_floor_server", str(floor_port)]
            with (
                process(argv, served + "/.well-known/agent-card.json"),
                process(floor_argv, floor + ".well-known/agent-card.json"),
            ):
                root = _workspace(Path(tmp) / "local", engine)
                _agent(root, "child", "")
                _agent(root, "parent", "delegates: [child]\ntools: [word_count]\n")
                _agent(root, "caller", f"delegates:\n  - {{a2a: {served}/agents/child/}}\n")
                calls = {"A2A call, served child": f"{served}/agents/child/", "A2A call, SDK floor": floor}
                medians, bursts = asyncio.run(_measure(root, engine, calls, args))
    for name, values in medians.items():
        print(f"{name:<22} run p50 {spread(values, 2)} ms")
    rounds = list(zip(*medians.values(), strict=True))
    local_hop = [local - plain - child for child, plain, local, *_ in rounds]
    a2a_hop = [remote - plain - child for child, plain, _, remote, *_ in rounds]
    sdk = [floor for *_, floor in rounds]
    server = [call - floor - child for child, _, _, _, call, floor in rounds]
    caller = [remote - plain - call for _, plain, _, remote, call, _ in rounds]
    print(f"local delegation hop outside the model calls: {spread(local_hop, 2)} ms per round")
    print(f"A2A hop beyond the callee's run:             {spread(a2a_hop, 2)} ms per round (target < 5 ms)")
    print(f"  of which the a2a-sdk's own floor:          {spread(sdk, 2)} ms")
    print(f"  our server beyond floor and run:           {spread(server, 2)} ms")
    print(f"  our caller (tool, card, metadata, answer): {spread(caller, 2)} ms")
    for i, burst in enumerate(bursts, 1):
        print(
            f"{args.concurrent} concurrent A2A calls, round {i}: {burst['ok']} answered, "
            f"{burst['errors']} errors, wall {burst['wall_s']:.2f} s, "
            f"p50 {burst['p50']:.0f} ms, p95 {burst['p95']:.0f} ms, max {burst['max']:.0f} ms"
        )
    for burst in bursts:
        for error in burst["samples"]:
            print(f"  error: {error}")


async def _measure(
    root: Path, engine: str, calls: dict[str, str], args: argparse.Namespace
) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.workspace import Workspace

    workspace = Workspace(root, flags={"gateway": {"url": engine}})
    catalog = AgentCatalog.scan(workspace)
    runtime = AgentRuntime(workspace, GatewayClient(engine), RunStore(workspace.runs_db))
    modes = {
        "child alone": (catalog.get("child"), "x"),
        "parent, plain tool": (catalog.get("parent"), 'call TOOL: word_count {"text": "x"}'),
        "parent, local child": (catalog.get("parent"), 'call TOOL: ask_child {"input": "x"}'),
        "parent, A2A child": (catalog.get("caller"), 'call TOOL: ask_child {"input": "x"}'),
    }

    async def once(agent: Any, text: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        status, error, failed = "", "", ""
        async for event in runtime.run(agent, text):
            status = getattr(event, "status", status)
            error = getattr(event, "error", error) or error
            if type(event).__name__ == "ToolReturned" and event.error:
                failed = event.result
        problem = failed or (f"{status}: {error}" if status != "ok" else "")
        return (time.perf_counter() - t0) * 1000, problem

    async def call(url: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        try:
            await runtime.remotes.send(url, "x", {}, {}, 30.0)
        except Exception as exc:
            return 0.0, f"{type(exc).__name__}: {exc}"
        return (time.perf_counter() - t0) * 1000, ""

    def measured(name: str) -> Any:
        if name in calls:
            return lambda: call(calls[name])
        agent, text = modes[name]
        return lambda: once(agent, text)

    names = [*modes, *calls]
    medians: dict[str, list[float]] = {m: [] for m in names}
    for name in names:  # warm every path (and the card cache) first
        for _ in range(20):
            _, problem = await measured(name)()
            assert not problem, problem
    for r in range(args.rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times = []
            for _ in range(args.runs):
                ms, problem = await measured(name)()
                assert not problem, f"{name}: {problem}"  # a sequential run must not fail
                times.append(ms)
            medians[name].append(statistics.median(times))

    bursts = []
    caller, text = modes["parent, A2A child"]
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        results = await asyncio.gather(*(once(caller, text) for _ in range(args.concurrent)))
        wall = time.perf_counter() - t0
        good = sorted(ms for ms, problem in results if not problem)
        errors = [problem for _, problem in results if problem]
        q = statistics.quantiles(good, n=20) if len(good) > 1 else [0.0] * 19
        bursts.append(
            {
                "ok": len(good),
                "errors": len(errors),
                "wall_s": wall,
                "p50": statistics.median(good) if good else 0.0,
                "p95": q[18],
                "max": good[-1] if good else 0.0,
                "samples": sorted(set(errors))[:3],
            }
        )
    await runtime.remotes.aclose()
    return medians, bursts


if __name__ == "__main__":
    main()
