"""Measure what ``stack/plan.py`` predicts, against a running gateway: a short calibration of the
engine's speeds, and a fleet run with the plan's own load (open loop, Poisson arrivals per group,
prompts that are each their own so nothing is cached, outputs of exactly the planned length).

Used by ``sutazai plan --calibrate/--check`` and ``bench/bench_plan.py``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from sutazai.stack.plan import EngineSpeed, Fleet

WORDS = [
    "river",
    "stone",
    "lantern",
    "orbit",
    "meadow",
    "copper",
    "signal",
    "harbor",
    "quiet",
    "thunder",
    "velvet",
    "maple",
]


def _prompt(words: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


@dataclass
class Measured:
    seconds: float
    output_tokens: int = 0
    prompt_tokens: int = 0
    requests: int = 0
    errors: int = 0
    ttft_s: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.seconds

    @property
    def ttft_median_s(self) -> float:
        return statistics.median(self.ttft_s) if self.ttft_s else float("nan")


async def _stream(
    session: aiohttp.ClientSession, url: str, body: dict[str, object], headers: dict[str, str]
) -> tuple[float, float, int, int] | None:
    """(time to first token, total time, prompt tokens, output tokens); None on an error."""
    t0 = time.perf_counter()
    first = None
    usage: dict[str, int] = {}
    async with session.post(
        f"{url}/v1/chat/completions",
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
        headers=headers,
    ) as r:
        if r.status != 200:
            await r.read()
            return None
        async for line in r.content:
            if not line.startswith(b"data: {"):
                continue
            event = orjson.loads(line[6:])
            if first is None and any(
                (c.get("delta") or {}).get("content") for c in event.get("choices") or []
            ):
                first = time.perf_counter() - t0
            usage = event.get("usage") or usage
    total = time.perf_counter() - t0
    if first is None:
        return None
    return first, total, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


async def calibrate(url: str, model: str, slots: int, headers: dict[str, str]) -> EngineSpeed:
    """Three probes, a few seconds each: prefill of a long fresh prompt, one stream, ``slots`` streams."""
    rng = random.Random()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:

        def body(words: int, tokens: int) -> dict[str, object]:
            return {
                "model": model,
                "max_tokens": tokens,
                "ignore_eos": True,
                "temperature": 0.7,
                "messages": [{"role": "user", "content": _prompt(words, rng)}],
            }

        await _stream(session, url, body(8, 4), headers)  # warm
        one = await _stream(session, url, body(8, 64), headers)
        long = await _stream(session, url, body(600, 1), headers)
        many = await asyncio.gather(*(_stream(session, url, body(8, 64), headers) for _ in range(slots)))
    if one is None or long is None or not all(many):
        raise RuntimeError("the gateway refused a calibration request")
    one_rate = (one[3] - 1) / (one[1] - one[0])
    prefill = long[2] / max(long[0] - 1 / one_rate, 1e-3)
    span = max(m[1] for m in many if m) - min(m[0] for m in many if m)
    many_rate = sum(m[3] - 1 for m in many if m) / span
    return EngineSpeed.fitted(one_rate, many_rate, slots, prefill)


async def run_fleet(url: str, model: str, fleet: Fleet, seconds: float, headers: dict[str, str]) -> Measured:
    """Each group's requests arrive as a Poisson process at its rate; only answers that finish
    inside the window count, and the load keeps arriving until its end."""
    measured = Measured(seconds)
    rng = random.Random(7)
    start = time.perf_counter()
    end = start + seconds
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=seconds + 300)
    ) as session:
        tasks: list[asyncio.Task[None]] = []

        async def one(group_priority: str, prompt_words: int, output: int, agent: str) -> None:
            body = {
                "model": model,
                "max_tokens": output,
                "ignore_eos": True,
                "temperature": 0.7,
                "messages": [{"role": "user", "content": _prompt(prompt_words, rng)}],
            }
            h = {**headers, "X-Sutazai-Agent": agent, "X-Sutazai-Priority": group_priority}
            try:
                result = await _stream(session, url, body, h)
            except (aiohttp.ClientError, TimeoutError):
                result = None
            if result is None:
                measured.errors += 1
                return
            if time.perf_counter() <= end:
                measured.requests += 1
                measured.output_tokens += result[3]
                measured.prompt_tokens += result[2]
                if group_priority == "interactive":
                    measured.ttft_s.append(result[0])

        async def arrivals(index: int) -> None:
            group = fleet.groups[index]
            if group.requests_per_s <= 0:
                return
            words = max(1, int(group.prompt_tokens * 0.75))  # ~1.3 tokens a word with the chat template
            while (now := time.perf_counter()) < end:
                await asyncio.sleep(rng.expovariate(group.requests_per_s))
                agent = f"{group.name}-{rng.randrange(group.agents)}"
                if now < end:
                    tasks.append(asyncio.create_task(one(group.priority, words, group.output_tokens, agent)))

        await asyncio.gather(*(arrivals(i) for i in range(len(fleet.groups))))
        await asyncio.gather(*tasks)
    return measured
