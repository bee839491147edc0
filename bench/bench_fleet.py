"""Benchmarks 2 and 3: 150 agents on the embedded engine (llama-server + SmolLM2-135M).

2. Aggregate tokens/s through the gateway vs llama-server direct at the same concurrency, and vs
   one request at a time.
3. Time to first token of an interactive request, idle and while the 150 agents load the engine.

    .venv/bin/python -m bench.bench_fleet [--agents 150] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import aiohttp
import orjson

from bench.procs import free_port, gateway, process
from sutazai.stack.embedded import find_llama_server, find_model, llama_server_command
from sutazai.stack.gateway.config import default_parallel

TOKENS = 32


def _body(agent: int, stream: bool = False) -> dict[str, Any]:
    system = f"You are agent number {agent}. You answer briefly and helpfully."
    return {
        "model": "smollm2",
        "max_tokens": TOKENS,
        "temperature": 0.7,
        "stream": stream,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Tell me a fun fact."},
        ],
    }


async def fleet(url: str, agents: int, seconds: float, stop: asyncio.Event | None = None) -> float:
    """Closed loop: every agent sends its next request as soon as the last one answered."""
    tokens = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)
    ) as session:

        async def agent(n: int) -> None:
            nonlocal tokens
            headers = {
                "X-Sutazai-Agent": f"agent-{n}",
                "X-Sutazai-Priority": "batch" if n % 3 == 0 else "normal",
            }
            while time.perf_counter() < deadline:
                async with session.post(f"{url}/v1/chat/completions", json=_body(n), headers=headers) as r:
                    data = await r.json(loads=orjson.loads)
                    if r.status == 200:
                        tokens += data["usage"]["completion_tokens"]

        start = time.perf_counter()
        await asyncio.gather(*(agent(n) for n in range(agents)))
        return tokens / (time.perf_counter() - start)


async def ttft(url: str, samples: int, gap_s: float = 0.3) -> list[float]:
    """Time to first token of interactive streaming requests, one after another."""
    times: list[float] = []
    headers = {"X-Sutazai-Agent": "developer", "X-Sutazai-Priority": "interactive"}
    async with aiohttp.ClientSession() as session:
        for i in range(samples):
            t0 = time.perf_counter()
            async with session.post(
                f"{url}/v1/chat/completions", json=_body(10_000 + i, stream=True), headers=headers
            ) as r:
                async for line in r.content:
                    if b'"content"' in line:
                        times.append((time.perf_counter() - t0) * 1000)
                        break
                await r.read()
            await asyncio.sleep(gap_s)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


async def under_load(url: str, agents: int, seconds: float, samples: int) -> tuple[float, list[float]]:
    load = asyncio.create_task(fleet(url, agents, seconds))
    await asyncio.sleep(min(5.0, seconds / 4))  # let the queue fill
    times = await ttft(url, samples)
    return await load, times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--parallel", type=int, default=default_parallel())
    args = parser.parse_args()
    server, model = find_llama_server(), find_model()
    assert server and model, "install the embedded engine first (scripts/setup)"
    port = free_port()
    engine = f"http://127.0.0.1:{port}"
    # The figures in docs/benchmarks.md were taken with 1k tokens a slot (the stack now gives 4k).
    argv, env = llama_server_command(server, model, port, args.parallel, 2, ctx_per_slot=1024)
    print(
        f"llama-server --parallel {args.parallel}; {args.agents} agents; {TOKENS} tokens per answer; "
        f"{args.seconds:g} s per phase",
        flush=True,
    )
    with process(argv, engine + "/health", env=env):
        single = asyncio.run(fleet(engine, 1, args.seconds / 2))
        print(f"one at a time, direct:        {single:7.1f} tokens/s", flush=True)
        direct = asyncio.run(fleet(engine, args.agents, args.seconds))
        print(f"{args.agents} agents, direct:          {direct:7.1f} tokens/s", flush=True)
        engines = (
            f'[[stack.engines]]\nname = "embedded"\nkind = "llamacpp"\nurl = "{engine}"\n'
            f'slots = {args.parallel}\nmodels = ["smollm2"]\n'
        )
        with gateway(engines) as url:
            idle = asyncio.run(ttft(url, 15))
            print(
                f"interactive TTFT idle:        p50 {statistics.median(idle):6.1f} ms  p95 {p95(idle):6.1f} ms",
                flush=True,
            )
            through, loaded = asyncio.run(under_load(url, args.agents, args.seconds, 15))
            print(f"{args.agents} agents, via gateway:     {through:7.1f} tokens/s", flush=True)
            print(
                f"interactive TTFT under load:  p50 {statistics.median(loaded):6.1f} ms  p95 {p95(loaded):6.1f} ms"
            )
    print()
    print(f"gateway / direct at {args.agents} agents:      {through / direct:.2f}x (target >= 0.9x)")
    print(f"gateway / one-at-a-time baseline: {through / single:.2f}x (target >= 1.5x)")
    print(f"interactive TTFT p95 loaded/idle: {p95(loaded) / p95(idle):.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
