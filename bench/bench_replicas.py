"""Benchmark: routing over 3 llama-server replicas of SmolLM2-135M on this machine, 150 agents with
distinct system prompts, by routing policy (``[stack] routing``):

- ``prefix``: consistent hashing of the agent's stable prefix with bounded load (the default);
- ``least-loaded``: the fewest requests per slot (what the gateway did before);
- ``round-robin``: the control any HTTP balancer gives.

Each agent's system prompt is its own (~``--prompt-words`` words, different from the first
token), so only the replica that served an agent before can have its prompt cached: in the slot it
used, or in llama-server's host-memory prompt cache (``--cache-ram``, 8 GiB by default, bounded by
the context size in tokens). Every window starts three fresh replicas (empty caches) and a gateway
routing by one policy, warms up (not counted) and measures; the modes take turns over the rounds.
The prompt cache is bounded (``--cache-ram``) as a larger model's would be; the default 8 GiB is
the control that shows what happens when every replica can hold every prompt.

Per mode: prompt-cache hit rate (cached prompt tokens / prompt tokens, from the engines' own
usage), completion tokens/s, requests, errors (never in the figures), and a developer's
interactive stream every second: time to first token, p50 and p95.

    .venv/bin/python -m bench.bench_replicas [--agents 150] [--seconds 60] [--rounds 2] [--cache-ram 128] [--think 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import aiohttp
import orjson

from bench.procs import BENCH_TOKEN, free_port, gateway, process
from bench.report import print_errors, spread
from sutazai.stack.embedded import CTX_PER_SLOT, engine_command, find_model

POLICIES = ("prefix", "least-loaded", "round-robin")
WORDS = [
    "ledger",
    "invoice",
    "shipment",
    "customer",
    "refund",
    "policy",
    "warehouse",
    "audit",
    "schedule",
    "forecast",
    "region",
    "quarter",
    "supplier",
    "contract",
    "clause",
    "review",
    "summary",
    "escalate",
    "ticket",
    "priority",
    "backlog",
    "release",
    "incident",
    "runbook",
    "metric",
    "threshold",
    "alert",
    "owner",
    "handoff",
    "template",
    "citation",
    "source",
    "verify",
]


def system_prompt(agent: int, words: int) -> str:
    rng = random.Random(agent)
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return f"Agent {agent} of the fleet. Your standing instructions: {body}. Answer in one sentence."


@dataclass
class Window:
    seconds: float
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    ttft_ms: list[float] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        return self.cached_tokens / max(self.prompt_tokens, 1)

    @property
    def rate(self) -> float:
        return self.completion_tokens / self.seconds


async def fleet(
    url: str, agents: int, words: int, warm_s: float, seconds: float, tokens: int, think_s: float
) -> Window:
    """Each agent thinks (tools, parsing: ``think_s`` on average, exponential) between its calls;
    only answers that finish inside the measured window count."""
    window = Window(seconds)
    start = time.perf_counter() + warm_s
    end = start + seconds
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def agent(n: int) -> None:
            body = {
                "model": "smollm2",
                "max_tokens": tokens,
                "temperature": 0.7,
                "messages": [
                    {"role": "system", "content": system_prompt(n, words)},
                    {"role": "user", "content": "What is the next step?"},
                ],
            }
            headers = {
                "X-Sutazai-Agent": f"agent-{n}",
                "X-Sutazai-Priority": "batch" if n % 3 == 0 else "normal",
            }
            rng = random.Random(n)
            while time.perf_counter() < end:
                if think_s:
                    await asyncio.sleep(rng.expovariate(1 / think_s))
                try:
                    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                        data = await r.json(loads=orjson.loads, content_type=None)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    window.errors[type(exc).__name__] += 1
                    continue
                done = time.perf_counter()
                if r.status != 200:
                    window.errors[f"{r.status} {str(data)[:60]}"] += 1
                    continue
                if start <= done <= end:
                    usage = data["usage"]
                    window.requests += 1
                    window.prompt_tokens += usage["prompt_tokens"]
                    window.cached_tokens += (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
                    window.completion_tokens += usage["completion_tokens"]

        async def developer() -> None:
            headers = {
                "X-Sutazai-Agent": "developer",
                "X-Sutazai-Priority": "interactive",
                "Authorization": f"Bearer {BENCH_TOKEN}",
            }
            body = {
                "model": "smollm2",
                "max_tokens": 8,
                "temperature": 0.7,
                "stream": True,
                "messages": [
                    {"role": "system", "content": system_prompt(10_000, words)},
                    {"role": "user", "content": "Quick question."},
                ],
            }
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            while time.perf_counter() < end - 2:
                t0 = time.perf_counter()
                async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                    first = None
                    async for line in r.content:
                        if first is None and b'"content"' in line:
                            first = (time.perf_counter() - t0) * 1000
                    if r.status == 200 and first is not None:
                        window.ttft_ms.append(first)
                    else:
                        window.errors[f"interactive {r.status}"] += 1
                await asyncio.sleep(1.0)

        await asyncio.gather(developer(), *(agent(n) for n in range(agents)))
    return window


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20, method="inclusive")[18]


@contextmanager
def replicas(count: int, parallel: int, threads: int, cache_ram: int | None) -> Iterator[list[str]]:
    model = find_model()
    assert model, "install the embedded engine first (scripts/setup)"
    urls = []
    with ExitStack() as stack:
        for _ in range(count):
            port = free_port()
            command = engine_command(
                model, port, parallel, threads, ctx_per_slot=CTX_PER_SLOT, cache_ram_mib=cache_ram
            )
            url = f"http://127.0.0.1:{port}"
            stack.enter_context(process(command.argv, url + "/health", env=command.env))
            urls.append(url)
        yield urls


def window(args: argparse.Namespace, policy: str) -> Window:
    """Fresh replicas (empty caches) and a gateway routing by ``policy``: warm-up, then measure."""
    with replicas(args.replicas, args.parallel, args.threads, args.cache_ram) as urls:
        engines = "".join(
            f'[[stack.engines]]\nname = "r{i}"\nkind = "llamacpp"\nurl = "{u}"\nslots = {args.parallel}\n'
            f'models = ["smollm2"]\ncontext = {CTX_PER_SLOT}\n'
            for i, u in enumerate(urls)
        )
        extra = f'routing = "{policy}"\nqueue_timeout_s = {args.queue_timeout}'
        with gateway(engines, extra_stack=extra) as url:
            return asyncio.run(
                fleet(url, args.agents, args.prompt_words, args.warm, args.seconds, args.tokens, args.think)
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warm", type=float, default=90.0, help="uncounted start of every window")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8, help="slots per replica")
    parser.add_argument("--threads", type=int, default=1, help="threads per replica")
    parser.add_argument("--prompt-words", type=int, default=60)
    parser.add_argument("--tokens", type=int, default=16, help="completion tokens per request")
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="mean seconds an agent spends between calls; 0: a closed loop (a freed slot then pulls "
        "its own agent straight back, which makes least-loaded sticky by accident)",
    )
    parser.add_argument("--queue-timeout", type=float, default=300.0, help="the gateway's queue deadline")
    parser.add_argument(
        "--cache-ram",
        type=int,
        default=128,
        help="MiB of prompt cache per replica: 128 holds ~55 of these prompts (23 KB of KV a token), "
        "as 8 GiB would hold ~150 prompts of a 7B model; llama.cpp's default 8192 holds every prompt "
        "of this small model on every replica (the control)",
    )
    args = parser.parse_args()
    print(
        f"{args.replicas} replicas x {args.parallel} slots x {args.threads} thread(s), {CTX_PER_SLOT} "
        f"tokens of context a slot, prompt cache {args.cache_ram} MiB a replica; {args.agents} agents "
        f"with system prompts of their own (~{args.prompt_words} words), thinking {args.think:g} s between "
        f"calls; {args.tokens} tokens an answer; "
        f"each window on fresh replicas: {args.warm:g} s warm-up + {args.seconds:g} s measured; "
        f"{args.rounds} rounds",
        flush=True,
    )
    results: dict[str, list[Window]] = {p: [] for p in POLICIES}
    for r in range(args.rounds):
        for policy in POLICIES[r % 3 :] + POLICIES[: r % 3]:
            w = window(args, policy)
            results[policy].append(w)
            print(
                f"round {r + 1} {policy:<13} hit rate {w.hit_rate:6.1%}  {w.rate:6.1f} tokens/s  "
                f"{w.requests:5d} requests  TTFT p95 {p95(w.ttft_ms):7.0f} ms ({len(w.ttft_ms)})  "
                f"{sum(w.errors.values())} errors",
                flush=True,
            )
    print()
    print(
        f"{'policy':<13} {'cache hit rate':>16} {'tokens/s':>20} {'interactive TTFT p95 ms':>26} "
        f"{'p50 ms':>8} {'errors':>7}"
    )
    for policy, windows in results.items():
        hits = [w.hit_rate for w in windows]
        rates = [w.rate for w in windows]
        ttft = [t for w in windows for t in w.ttft_ms]
        errors = sum(sum(w.errors.values()) for w in windows)
        print(
            f"{policy:<13} {statistics.median(hits):7.1%} ({min(hits):.0%}-{max(hits):.0%}) "
            f"{spread(rates):>20} {p95(ttft):12.0f} (n={len(ttft):3d}) "
            f"{statistics.median(ttft) if ttft else float('nan'):8.0f} {errors:7d}"
        )
        print_errors(w.errors for w in windows)
    base = statistics.median(w.rate for w in results["round-robin"])
    for policy in ("prefix", "least-loaded"):
        rate = statistics.median(w.rate for w in results[policy])
        print(f"{policy} / round-robin tokens/s: {rate / base:.2f}x")


if __name__ == "__main__":
    main()
