"""A replica dies (or hangs) under a fleet: is any request lost?

Two embedded llama-server replicas behind one gateway process; 150 agents in a closed loop (short
think time, 24-token answers) for ``--seconds``; at ``--fault-at`` seconds replica 1 is sent SIGKILL
(``kill``, ``kill-stream``) or SIGSTOP (``stop``: it hangs, and ``[stack] stall_timeout_s`` gives up on
it). ``none`` is the control: the same load, no fault. Every request is counted: answered in full,
refused or failed (lost, by status and message), and for streams, ended by an error after bytes had
arrived (reported apart: those cannot be taken back). Modes run one after another, each on fresh
replicas and a fresh gateway.

    .venv/bin/python -m bench.bench_faults [--modes none,kill,kill-stream,stop] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.procs import free_port, gateway, process
from sutazai.stack.embedded import CTX_PER_SLOT, engine_command, find_model


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    short: int = 0  # answered, but with fewer tokens than asked
    lost: Counter[str] = field(default_factory=Counter)
    error_after_bytes: int = 0  # streams only


@contextmanager
def replicas(count: int, parallel: int) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    model = find_model()
    assert model, "install the embedded engine first (scripts/setup)"
    out = []
    with ExitStack() as stack:
        for _ in range(count):
            port = free_port()
            command = engine_command(model, port, parallel, 1, ctx_per_slot=CTX_PER_SLOT)
            url = f"http://127.0.0.1:{port}"
            out.append((url, stack.enter_context(process(command.argv, url + "/health", env=command.env))))
        try:
            yield out
        finally:
            for _, proc in out:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGCONT)  # a stopped replica must be able to die


async def fleet(url: str, agents: int, seconds: float, tokens: int, stream: bool, fault: Any) -> Tally:
    tally = Tally()
    end = time.monotonic() + seconds
    rng = random.Random(7)

    async def ask(client: httpx.AsyncClient, agent: int) -> None:
        body = {
            "model": "smollm2",
            "messages": [{"role": "user", "content": f"Agent {agent}, request {tally.sent}: count slowly."}],
            "max_tokens": tokens,
            "ignore_eos": True,
            "temperature": 0.7,
            "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
        }
        headers = {"X-Sutazai-Agent": f"agent-{agent}"}
        tally.sent += 1
        try:
            if not stream:
                answer = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
                if answer.status_code != 200:
                    tally.lost[f"{answer.status_code} {answer.json()['error']['message'][:60]}"] += 1
                    return
                tally.answered += 1
                tally.short += answer.json()["usage"]["completion_tokens"] < tokens
                return
            received = False
            async with client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                if r.status_code != 200:
                    await r.aread()
                    tally.lost[f"{r.status_code} {r.text[:60]}"] += 1
                    return
                async for line in r.aiter_lines():
                    if line.startswith("data: {"):
                        event = json.loads(line[6:])
                        if "error" in event:
                            if received:
                                tally.error_after_bytes += 1
                            else:
                                tally.lost[
                                    f"stream error before bytes: {event['error']['message'][:60]}"
                                ] += 1
                            return
                        received = received or any(
                            (c.get("delta") or {}).get("content") for c in event.get("choices") or []
                        )
            tally.answered += 1
        except httpx.HTTPError as exc:
            tally.lost[f"{type(exc).__name__}"] += 1

    async def agent(client: httpx.AsyncClient, n: int) -> None:
        while time.monotonic() < end:
            await ask(client, n)
            await asyncio.sleep(rng.uniform(0.0, 1.0))

    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=None)) as client:
        faulter = asyncio.create_task(fault())
        await asyncio.gather(*(agent(client, n) for n in range(agents)))
        await faulter
    return tally


def run(mode: str, args: argparse.Namespace) -> Tally:
    with replicas(2, args.parallel) as started:
        engines = "".join(
            f'[[stack.engines]]\nname = "r{i + 1}"\nkind = "llamacpp"\nurl = "{u}"\nslots = {args.parallel}\n'
            f'models = ["smollm2"]\ncontext = {CTX_PER_SLOT}\n'
            for i, (u, _) in enumerate(started)
        )
        extra = f"stall_timeout_s = {args.stall}\nqueue_timeout_s = 120"
        victim = started[0][1]

        async def fault() -> None:
            if mode == "none":
                return
            await asyncio.sleep(args.fault_at)
            os.kill(victim.pid, signal.SIGSTOP if mode == "stop" else signal.SIGKILL)

        with gateway(engines, extra_stack=extra) as url:
            return asyncio.run(
                fleet(url, args.agents, args.seconds, args.tokens, mode == "kill-stream", fault)
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", default="none,kill,kill-stream,stop")
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fault-at", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=12)
    parser.add_argument("--stall", type=float, default=5.0)
    args = parser.parse_args()
    for mode in args.modes.split(","):
        t0 = time.monotonic()
        tally = run(mode, args)
        print_tally(mode, tally, time.monotonic() - t0, stream=mode == "kill-stream")


def print_tally(mode: str, tally: Tally, seconds: float, stream: bool) -> None:
    """One line per mode: every request sent, answered, or lost by cause; streams cut after bytes."""
    lost = sum(tally.lost.values())
    print(
        f"{mode:<20} sent {tally.sent}, answered {tally.answered} (short {tally.short}), lost {lost}"
        + (f", stream errors after bytes {tally.error_after_bytes}" if stream else "")
        + f" ({seconds:.0f} s)"
        + (f"; lost by cause: {dict(tally.lost)}" if lost else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
