"""Benchmark 2: 150 closed-loop agents on the embedded engine (llama.cpp server + SmolLM2-135M),
straight to the engine and through the gateway, interleaved over rounds on a warm engine.

Modes, each measured once a round, in a rotating order so none always runs first:

- ``direct``: every agent sends to the engine at once (the engine queues what its slots can't take);
- ``direct, capped``: a client-side semaphore at the slot count (the control: what a plain limiter
  buys without a gateway);
- ``gateway``: the same load through the gateway (priorities, token-fair queues, retries);
- ``gateway, no reserve``: the control that explains the gap to direct: the same gateway without the
  slot it holds back for interactive work (``[stack] reserved_interactive = 0``).

Per mode: tokens/s, requests, errors (never folded into the figures), tokens per request, and
fairness: Jain's index over the tokens each agent was served within its priority class, with the
count of agents served nothing. Then a developer's 16-token interactive stream under the same load,
direct and through the gateway: time to its first token.

    .venv/bin/python -m bench.bench_fleet [--agents 150] [--seconds 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.procs import BENCH_TOKEN, free_port, gateway, process
from bench.report import print_errors, spread
from sutazai.stack.embedded import CTX_PER_SLOT, DEFAULT_BUILD, ENGINE_BUILDS, engine_command, find_model
from sutazai.stack.gateway.config import default_parallel

TOKENS = 32
DEVELOPER_TOKENS = 16


def _body(agent: int, max_tokens: int = TOKENS, stream: bool = False) -> dict[str, Any]:
    system = f"You are agent number {agent}. You answer briefly and helpfully."
    return {
        "model": "smollm2",
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "stream": stream,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Tell me a fun fact."},
        ],
    }


def priority_of(agent: int) -> str:
    return "batch" if agent % 3 == 0 else "normal"


@dataclass
class FleetResult:
    seconds: float
    tokens: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return sum(self.tokens.values()) / self.seconds

    def per_request(self) -> float:
        return sum(self.tokens.values()) / max(self.requests, 1)

    def fairness(self, agents: int, priority: str) -> tuple[float, int]:
        """Jain's index over the class's agents (1.0: all served alike) and how many got nothing."""
        served = [self.tokens[a] for a in range(agents) if priority_of(a) == priority]
        total, squares = sum(served), sum(x * x for x in served)
        jain = total * total / (len(served) * squares) if squares else 0.0
        return jain, sum(1 for x in served if x == 0)


async def fleet(url: str, agents: int, seconds: float, limit: int | None = None) -> FleetResult:
    """Closed loop: every agent sends its next request as soon as the last one answered."""
    result = FleetResult(seconds)
    gate = asyncio.Semaphore(limit) if limit else None
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)
    ) as session:

        async def ask(n: int, headers: dict[str, str]) -> None:
            async with session.post(f"{url}/v1/chat/completions", json=_body(n), headers=headers) as r:
                data = await r.json(loads=orjson.loads, content_type=None)
                if r.status != 200:
                    message = str((data.get("error") or {}).get("message", data))[:80]
                    result.errors[f"{r.status} {message}"] += 1
                    return
                result.requests += 1
                if time.perf_counter() <= deadline:  # only what finished inside the window counts
                    result.tokens[n] += data["usage"]["completion_tokens"]

        async def agent(n: int) -> None:
            headers = {"X-Sutazai-Agent": f"agent-{n}", "X-Sutazai-Priority": priority_of(n)}
            while time.perf_counter() < deadline:
                try:
                    if gate is None:
                        await ask(n, headers)
                    else:
                        async with gate:
                            await ask(n, headers)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors[type(exc).__name__] += 1

        await asyncio.gather(*(agent(n) for n in range(agents)))
    return result


async def first_token_ms(url: str, headers: dict[str, str], agent: int) -> float:
    """A developer's short stream: milliseconds until its first token arrives."""
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        body = _body(agent, DEVELOPER_TOKENS, stream=True)
        async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
            async for line in r.content:
                if b'"content"' in line:
                    ttft = (time.perf_counter() - t0) * 1000
                    await r.read()
                    return ttft
    return float("nan")


async def interactive_under_load(url: str, headers: dict[str, str], agents: int, samples: int) -> list[float]:
    stop_after = 6.0 + samples * 3
    load = asyncio.create_task(fleet(url, agents, stop_after))
    await asyncio.sleep(5.0)  # let the queue fill
    times = []
    for i in range(samples):
        times.append(await first_token_ms(url, headers, 10_000 + i))
        await asyncio.sleep(0.5)
    await load
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=default_parallel())
    parser.add_argument("--samples", type=int, default=10, help="interactive streams per mode")
    parser.add_argument("--build", choices=ENGINE_BUILDS, default=DEFAULT_BUILD)
    args = parser.parse_args()
    model = find_model()
    assert model, "install the embedded engine first (scripts/setup)"
    port = free_port()
    engine = f"http://127.0.0.1:{port}"
    command = engine_command(model, port, args.parallel, 2, build=args.build, ctx_per_slot=CTX_PER_SLOT)
    print(
        f"engine: {args.build} --parallel {args.parallel}, "
        f"{CTX_PER_SLOT} tokens of context a slot (as shipped); {args.agents} agents, a third at batch "
        f"priority; {TOKENS} tokens per answer; {args.seconds:g} s a mode; {args.rounds} rounds",
        flush=True,
    )
    engines = (
        f'[[stack.engines]]\nname = "embedded"\nkind = "llamacpp"\nurl = "{engine}"\n'
        f'slots = {args.parallel}\nmodels = ["smollm2"]\ncontext = {CTX_PER_SLOT}\n'
    )
    with (
        process(command.argv, engine + "/health", env=command.env),
        gateway(engines) as via,
        gateway(engines, extra_stack="reserved_interactive = 0") as unreserved,
    ):
        modes: dict[str, Callable[[], FleetResult]] = {
            "direct": lambda: asyncio.run(fleet(engine, args.agents, args.seconds)),
            "direct, capped": lambda: asyncio.run(fleet(engine, args.agents, args.seconds, args.parallel)),
            "gateway": lambda: asyncio.run(fleet(via, args.agents, args.seconds)),
            "gateway, no reserve": lambda: asyncio.run(fleet(unreserved, args.agents, args.seconds)),
        }
        warm = asyncio.run(fleet(via, args.agents, 10))  # warm the engine and the gateway first
        print(f"warm-up: {warm.rate:.1f} tokens/s, {sum(warm.errors.values())} errors", flush=True)
        results: dict[str, list[FleetResult]] = {name: [] for name in modes}
        names = list(modes)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                result = modes[name]()
                results[name].append(result)
                print(
                    f"round {r + 1} {name:<20} {result.rate:7.1f} tokens/s  {result.requests:5d} requests  "
                    f"{sum(result.errors.values())} errors",
                    flush=True,
                )
        developer = {"X-Sutazai-Agent": "developer", "X-Sutazai-Priority": "interactive"}
        direct_ttft = asyncio.run(interactive_under_load(engine, developer, args.agents, args.samples))
        gateway_ttft = asyncio.run(
            interactive_under_load(
                via, {**developer, "Authorization": f"Bearer {BENCH_TOKEN}"}, args.agents, args.samples
            )
        )
    print()
    print(
        f"{'mode':<20} {'tokens/s median (min-max)':>27} {'errors':>7} {'tok/req':>8} "
        f"{'Jain normal':>12} {'Jain batch':>11} {'served nothing':>15}"
    )
    for name, runs in results.items():
        errors = sum(sum(r.errors.values()) for r in runs)
        normal = [r.fairness(args.agents, "normal") for r in runs]
        batch = [r.fairness(args.agents, "batch") for r in runs]
        nothing = sum(n for _, n in normal) + sum(n for _, n in batch)
        print(
            f"{name:<20} {spread([r.rate for r in runs]):>27} {errors:>7} "
            f"{statistics.mean(r.per_request() for r in runs):8.1f} "
            f"{min(j for j, _ in normal):5.3f}-{max(j for j, _ in normal):5.3f} "
            f"{min(j for j, _ in batch):5.3f}-{max(j for j, _ in batch):5.3f} {nothing:>15}"
        )
        print_errors(r.errors for r in runs)
    gw = statistics.median(r.rate for r in results["gateway"])
    print()
    print(
        f"gateway / direct:          {gw / statistics.median(r.rate for r in results['direct']):.2f}x "
        "(target >= 0.9x)"
    )
    print(
        f"gateway / direct, capped:  {gw / statistics.median(r.rate for r in results['direct, capped']):.2f}x"
    )
    unreserved = statistics.median(r.rate for r in results["gateway, no reserve"])
    print(
        f"gateway, no reserve / direct: {unreserved / statistics.median(r.rate for r in results['direct']):.2f}x"
    )
    print(
        f"interactive first token under load, ms, median (min-max) of {args.samples}: "
        f"direct {spread(direct_ttft)}, gateway {spread(gateway_ttft)}"
    )


if __name__ == "__main__":
    main()
