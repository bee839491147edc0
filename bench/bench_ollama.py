"""Benchmark: model reloads and batch completion time in front of an Ollama that charges for loads.

A scripted Ollama (``tests/scripted_ollama.py``: one model resident at a time, a load of
``--load-s`` on every switch and on every ``num_ctx`` change, ``--answer-s`` an answer, 4 parallel)
serves 16 batch agents, half on each of two models, each sending ``--each`` requests in turn with
the ``num_ctx`` its client likes (2048 or 8192, as Aider and others differ). Modes, interleaved:

- ``direct``: the clients straight to Ollama;
- ``gateway, pinning only``: through the gateway, ``num_ctx`` pinned and ``keep_alive`` set, but no
  preference for resident models (``model_switch_after_s = 0``: every waiter counts as aged);
- ``gateway, Ollama-aware``: the default: resident models first, batch for another model waits up
  to 15 s while the engine is busy.

    .venv/bin/python -m bench.bench_ollama [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable

import httpx

from bench.procs import gateway
from bench.report import spread
from tests.conftest import ServerThread
from tests.scripted_ollama import ScriptedOllama

AGENTS = 16


async def batch(url: str, each: int) -> tuple[float, Counter[str]]:
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as client:

        async def agent(n: int) -> None:
            for i in range(each):
                body = {
                    "model": "alpha" if n % 2 else "beta",
                    "stream": False,
                    "messages": [{"role": "user", "content": f"task {n}/{i}"}],
                    "options": {"num_ctx": 2048 if n % 3 else 8192},
                }
                headers = {"X-Sutazai-Agent": f"agent-{n}", "X-Sutazai-Priority": "batch"}
                response = await client.post(f"{url}/api/chat", json=body, headers=headers)
                if response.status_code != 200:
                    errors[f"{response.status_code} {response.text[:60]}"] += 1

        await asyncio.gather(*(agent(n) for n in range(AGENTS)))
    return time.perf_counter() - started, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--each", type=int, default=6, help="requests per agent")
    parser.add_argument("--load-s", type=float, default=1.0)
    parser.add_argument("--answer-s", type=float, default=0.2)
    args = parser.parse_args()
    print(
        f"{AGENTS} batch agents on 2 models, {args.each} requests each; a load costs {args.load_s:g} s, "
        f"an answer {args.answer_s:g} s; {args.rounds} rounds",
        flush=True,
    )
    results: dict[str, list[tuple[int, float, int]]] = {}

    def run(mode: str, through: Callable[[str], object] | None, aware: bool) -> None:
        ollama = ScriptedOllama(["alpha", "beta"], load_s=args.load_s, answer_s=args.answer_s, max_loaded=1)
        with ServerThread(ollama.app()) as server:
            if through is None:
                took, errors = asyncio.run(batch(server.url, args.each))
            else:
                engines = (
                    f'[[stack.engines]]\nname = "ollama"\nkind = "ollama"\nurl = "{server.url}"\n'
                    f"slots = 4\nmax_loaded = 1\n"
                )
                extra = f"model_switch_after_s = {15.0 if aware else 0.001}"
                with gateway(engines, extra_stack=extra) as url:
                    took, errors = asyncio.run(batch(url, args.each))
        results.setdefault(mode, []).append((ollama.reloads, took, sum(errors.values())))
        print(
            f"{mode:<24} {ollama.reloads:3d} reloads ({dict(ollama.reasons)})  {took:6.1f} s  "
            f"{sum(errors.values())} errors",
            flush=True,
        )

    modes = [
        ("direct", None, False),
        ("gateway, pinning only", gateway, False),
        ("gateway, Ollama-aware", gateway, True),
    ]
    for r in range(args.rounds):
        for mode, through, aware in modes[r % 3 :] + modes[: r % 3]:
            run(mode, through, aware)
    print()
    print(f"{'mode':<24} {'reloads median (min-max)':>26} {'batch done in s':>22} {'errors':>7}")
    for mode, rows in results.items():
        print(
            f"{mode:<24} {spread([float(r[0]) for r in rows], 0):>26} {spread([r[1] for r in rows]):>22} "
            f"{sum(r[2] for r in rows):7d}"
        )
    aware = statistics.median(r[1] for r in results["gateway, Ollama-aware"])
    for mode in ("direct", "gateway, pinning only"):
        print(
            f"batch time, Ollama-aware / {mode}: {aware / statistics.median(r[1] for r in results[mode]):.2f}x"
        )


if __name__ == "__main__":
    main()
