"""The stack changes under a fleet: is any request lost?

The real local stack (`sutazai stack up`, the embedded engine, `--parallel` slots), 150 agents in a
closed loop (short think time, 24-token answers) for ``--seconds``. At ``--change-at`` seconds:
``grow-shrink`` sets `[stack] replicas = 2` and runs `sutazai stack up --detach` (a second replica
joins; the first is drained and restarted with its new thread count), and ``--back-at`` seconds
returns to one replica (the second is drained and stopped, the first restarted again);
``restart`` runs `sutazai stack restart engine`. ``none`` is the control: the same load, no change.
``-stream`` variants ask for streams. Every request is counted (bench_faults' tally): answered,
lost by status and message, streams cut after bytes. Modes run one after another on a fresh stack.

    .venv/bin/python -m bench.bench_reconfigure [--modes none,grow-shrink,restart,grow-shrink-stream]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_faults import Tally, fleet, print_tally
from bench.procs import free_port

SUTAZAI = str(Path(sys.executable).parent / "sutazai")


def _cli(root: Path, *args: str) -> str:
    done = subprocess.run([SUTAZAI, *args], cwd=root, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"sutazai {' '.join(args)}: {done.stderr.strip()}")
    return done.stderr


def run(mode: str, args: argparse.Namespace) -> tuple[Tally, list[str]]:
    from sutazai.scaffolds.generate import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws")
        gateway_port, engine_port = free_port(), free_port()
        base = (
            (root / "sutazai.toml").read_text().replace("port = 11435", f"port = {gateway_port}")
            .replace("127.0.0.1:11435", f"127.0.0.1:{gateway_port}")
            + f"\n[stack]\nengine_port = {engine_port}\nembedder_port = {free_port()}\n"
            f"parallel = {args.parallel}\nqueue_timeout_s = 120\n"
        )  # fmt: skip
        (root / "sutazai.toml").write_text(base)
        _cli(root, "stack", "up", "--detach")
        steps: list[str] = []

        async def change() -> None:
            if mode.startswith("none"):
                return
            await asyncio.sleep(args.change_at)
            if mode.startswith("restart"):
                steps.append(await asyncio.to_thread(_cli, root, "stack", "restart", "engine"))
                return
            (root / "sutazai.toml").write_text(base + "replicas = 2\n")
            steps.append(await asyncio.to_thread(_cli, root, "stack", "up", "--detach"))
            await asyncio.sleep(max(0.0, args.back_at - args.change_at - 5))
            (root / "sutazai.toml").write_text(base)
            steps.append(await asyncio.to_thread(_cli, root, "stack", "up", "--detach"))

        try:
            url = f"http://127.0.0.1:{gateway_port}"
            tally = asyncio.run(
                fleet(url, args.agents, args.seconds, args.tokens, mode.endswith("-stream"), change)
            )
        finally:
            subprocess.run([SUTAZAI, "stack", "down"], cwd=root, capture_output=True, timeout=120)
        return tally, steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modes", default="none,grow-shrink,restart,grow-shrink-stream")
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--change-at", type=float, default=10.0)
    parser.add_argument("--back-at", type=float, default=28.0)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--parallel", type=int, default=12)
    args = parser.parse_args()
    for mode in args.modes.split(","):
        t0 = time.monotonic()
        tally, steps = run(mode, args)
        print_tally(mode, tally, time.monotonic() - t0, stream=mode.endswith("-stream"))
        for text in steps:
            print(
                "   " + " | ".join(line.strip() for line in text.splitlines() if " s  " in line), flush=True
            )


if __name__ == "__main__":
    main()
