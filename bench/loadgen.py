"""A small closed-loop HTTP load generator: N clients, each sending as soon as its last answer came.

It runs in its own process (``python -m bench.loadgen``) so the server under test and the load
share the 2 cores the way the issue's reference figures were measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

import aiohttp


async def run(
    url: str, body: bytes, clients: int, seconds: float, headers: dict[str, str]
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                if response.status != 200:  # counted apart: never in throughput or latency
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)

        # warm-up: open connections and let the server's caches settle
        warm = time.perf_counter() + 0.5
        while time.perf_counter() < warm:
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    if not latencies:
        return {"requests": 0, "errors": errors, "rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "clients": clients}
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49],
        "p99_ms": q[98],
        "clients": clients,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--body", required=True)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = {"Content-Type": "application/json", **dict(h.split(":", 1) for h in args.header)}
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.url, args.body.encode(), args.clients, args.seconds, headers))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
