"""The gateway's own per-request work, in one process, without HTTP: what `bench_overhead` cannot
separate from aiohttp and the machine's noise.

`Gateway.complete` (budgets, routing, the slot pool, the retry layers, the engine's deltas
collected) against an engine object that yields its two deltas at once, beside the control: the
same engine's deltas collected directly. Also the per-answer bookkeeping (`GatewayStats.record`).
Each figure is the best of ``--rounds`` rounds of ``--requests`` (a quiet round is the one least
disturbed by the rest of the machine), the spread beside it.

    .venv/bin/python -m bench.bench_core_path [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path

import uvloop

from sutazai.stack.gateway.config import gateway_config
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.stats import GatewayStats
from sutazai.stack.gateway.types import ChatRequest, Delta, Usage
from sutazai.workspace import Workspace

ENGINE = (
    '[stack]\nembedded = false\n[[stack.engines]]\nname = "instant"\nkind = "openai"\n'
    'url = "http://127.0.0.1:9"\nslots = 256\nmodels = ["instant"]\n'
)


async def _instant(
    request: ChatRequest, model: str, slot: int | None, attempt: int = 0
) -> AsyncGenerator[Delta]:
    yield Delta(content="ok")
    yield Delta(finish_reason="stop", usage=Usage(5, 1))


def _request() -> ChatRequest:
    return ChatRequest(
        "instant",
        messages=[{"role": "user", "content": "hi"}],
        options={"max_tokens": 8, "temperature": 0.7},
        agent="bench",
    )


async def _rounds(call: Callable[[], Awaitable[object]], requests: int, rounds: int) -> list[float]:
    for _ in range(requests // 10):  # warm
        await call()
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(requests):
            await call()
        out.append((time.perf_counter() - started) / requests * 1e6)
    return out


def _line(name: str, us: list[float]) -> str:
    return f"{name:<34} {min(us):7.2f} us (median {statistics.median(us):.2f}, worst {max(us):.2f})"


async def main(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sutazai.toml").write_text(ENGINE)
        workspace = Workspace.discover(Path(tmp))
        gateway = Gateway(gateway_config(workspace.settings, workspace.root))
    engine = gateway.engines["instant"]
    engine.stream = _instant  # type: ignore[method-assign]
    engine.healthy = True

    async def direct() -> list[Delta]:
        return [d async for d in _instant(_request(), "instant", None)]

    async def through_core() -> object:
        return await gateway.complete(_request())

    control = await _rounds(direct, requests, rounds)
    core = await _rounds(through_core, requests, rounds)
    stats = GatewayStats()

    async def record() -> None:
        stats.record("openai", "instant", "bench", 200, 0.0004, 5, 1, 0, "normal")

    bookkeeping = await _rounds(record, requests, rounds)
    print(_line("engine's deltas alone (control)", control))
    print(_line("through Gateway.complete", core))
    own = "the core's own cost"
    print(f"{own:<34} {min(core) - min(control):7.2f} us a request")
    print(_line("GatewayStats.record (per answer)", bookkeeping))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    uvloop.run(main(args.requests, args.rounds))
