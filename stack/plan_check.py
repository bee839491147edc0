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
from dataclasses import dataclass, field, replace

import aiohttp

from sutazai import sse
from sutazai.stack.plan import EngineSpeed, Fleet
from sutazai.wire import AGENT_HEADER, PRIORITY_HEADER

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
    def ttft_mean_s(self) -> float:
        """What the plan predicts: a mean (a median of a dozen requests hides who waited)."""
        return statistics.mean(self.ttft_s) if self.ttft_s else float("nan")

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
        async for event in sse.events(r.content):
            if first is None and any(
                (c.get("delta") or {}).get("content") for c in event.get("choices") or []
            ):
                first = time.perf_counter() - t0
            usage = event.get("usage") or usage
    total = time.perf_counter() - t0
    if first is None:
        return None
    return first, total, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


async def calibrate(
    url: str,
    model: str,
    slots: int,
    headers: dict[str, str],
    prompt_tokens: int = 120,
    output_tokens: int = 32,
    loaded_s: float = 15.0,
    reserved_interactive: int = 1,
) -> EngineSpeed:
    """Probes, seconds each: one stream and ``slots`` streams decoding (the decode step), then
    ``slots`` clients in a closed loop with requests of the fleet's shape (``prompt_tokens`` in,
    ``output_tokens`` out) for ``loaded_s``. The last fixes the prefill rate as it is under load:
    the engine batches prompts with other requests' decoding, so a prompt alone (measured too,
    as the fallback) is slower per token than inside a busy batch. A prompt alone gives the rate a
    waiting request sees (``prompt_rate``)."""
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
        alone_probes = [
            await _stream(session, url, body(_words(prompt_tokens), 1), headers) for _ in range(3)
        ]
        many = await asyncio.gather(*(_stream(session, url, body(8, 64), headers) for _ in range(slots)))
        done: list[tuple[float, float, int, int]] = []
        stop = time.perf_counter() + loaded_s

        async def client() -> None:
            while time.perf_counter() < stop:
                result = await _stream(session, url, body(_words(prompt_tokens), output_tokens), headers)
                if result is not None and time.perf_counter() <= stop:
                    done.append(result)

        await asyncio.gather(*(client() for _ in range(slots)))
    if one is None or not all(alone_probes) or not all(many):
        raise RuntimeError("the gateway refused a calibration request")
    one_rate = (one[3] - 1) / (one[1] - one[0])
    alone = statistics.median(p[2] / max(p[0] - 1 / one_rate, 1e-3) for p in alone_probes if p)
    span = max(m[1] for m in many if m) - min(m[0] for m in many if m)
    many_rate = sum(m[3] - 1 for m in many if m) / span
    speed = replace(EngineSpeed.fitted(one_rate, many_rate, slots, alone), prompt_rate=alone)
    if not done:
        return speed
    per_request = loaded_s / len(done)  # engine time a request of this shape costs at full load
    busy = max(slots - reserved_interactive, 1)  # the gateway holds slots back for interactive work
    decoding = output_tokens / speed.decode_rate(busy)
    prompt = statistics.mean(d[2] for d in done)
    prefill = prompt / (per_request - decoding) if per_request > decoding else alone
    return replace(speed, prefill_rate=prefill)


def _words(prompt_tokens: int) -> int:
    """Words of this generator for a prompt of ``prompt_tokens`` with SmolLM2's chat template
    (~35 tokens of template and default system prompt; one token a word)."""
    return max(1, prompt_tokens - 35)


async def run_fleet(
    url: str, model: str, fleet: Fleet, seconds: float, headers: dict[str, str], warm_s: float = 15.0
) -> Measured:
    """Each group's requests arrive as a Poisson process at its rate from ``warm_s`` before the
    window (so the window sees a steady state) to its end; only answers that finish inside the
    window count, and only first tokens of requests sent inside it. Prompts are fresh every run
    (an unseeded generator): the engine's prompt cache must not answer for the model."""
    measured = Measured(seconds)
    rng = random.Random()
    start = time.perf_counter() + warm_s
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
            h = {**headers, AGENT_HEADER: agent, PRIORITY_HEADER: group_priority}
            sent = time.perf_counter()
            try:
                result = await _stream(session, url, body, h)
            except (aiohttp.ClientError, TimeoutError):
                result = None
            if result is None:
                measured.errors += start <= time.perf_counter()  # warm-up errors are not the window's
                return
            if start <= time.perf_counter() <= end:
                measured.requests += 1
                measured.output_tokens += result[3]
                measured.prompt_tokens += result[2]
                if group_priority == "interactive" and sent >= start:
                    measured.ttft_s.append(result[0])

        async def arrivals(index: int) -> None:
            group = fleet.groups[index]
            if group.requests_per_s <= 0:
                return
            words = _words(group.prompt_tokens)
            while (now := time.perf_counter()) < end:  # from warm-up start to the window's end
                await asyncio.sleep(rng.expovariate(group.requests_per_s))
                agent = f"{group.name}-{rng.randrange(group.agents)}"
                if now < end:
                    tasks.append(asyncio.create_task(one(group.priority, words, group.output_tokens, agent)))

        await asyncio.gather(*(arrivals(i) for i in range(len(fleet.groups))))
        await asyncio.gather(*tasks)
    return measured
