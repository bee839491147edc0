"""Replaying agents x 5 smoke cases x samples from cassettes, offline (issue 7: 150 agents under 10 s;
issue 24: 1,000 agents x 5 cases x 3 samples under 10 s).

Cassettes are first recorded against an instant engine; then ``sutazai smoke --replay`` runs with
the gateway URL pointing nowhere.

    .venv/bin/python -m bench.bench_smoke_replay [--agents 150] [--samples 1] [--rounds 3] [--keep DIR]

``--keep DIR`` records into DIR once and replays from it on later runs (recording 1,000 agents takes
minutes); every round replays the same cassettes, the rounds' spread printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import free_port, process
from bench.workspaces import make_workspace

CASES = "cases:\n" + "".join(
    f"  - name: case-{i}\n    input: Question number {i}?\n    tags: [t{i % 2}]\n    expect:\n      regex: '\\w+'\n"
    for i in range(5)
)


EXE = str(Path(sys.executable).parent / "sutazai")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="record here once, replay from here afterwards")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        root = folder / "ws"
        if not (root / ".recorded").exists():
            record(root, args.agents, args.samples)
        times = []
        for round_ in range(args.rounds):
            elapsed, summary = replay(root, args.samples)
            times.append(elapsed)
            print(f"round {round_ + 1}: {elapsed:.2f} s ({summary})", flush=True)
        times.sort()
        print(
            f"replayed {args.agents} agents x 5 cases x {args.samples} samples in {times[len(times) // 2]:.2f} s "
            f"(median of {len(times)}, {times[0]:.2f}-{times[-1]:.2f}; target < 10 s)"
        )


def record(root: Path, agents: int, samples: int) -> None:
    make_workspace(root, agents)
    for smoke in root.glob("agents/*/smoke.yaml"):
        smoke.write_text(CASES)
    port = free_port()
    engine = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
        subprocess.run(
            [EXE, "--gateway", engine, "smoke", "--record", "--parallel", "16", "-n", str(samples), "--json"],
            cwd=root, check=True, capture_output=True,
        )  # fmt: skip
    (root / ".recorded").touch()


def replay(root: Path, samples: int) -> tuple[float, dict[str, int]]:
    """Seconds from process start to exit, the gateway URL pointing nowhere; and the summary."""
    t0 = time.perf_counter()
    result = subprocess.run(
        [EXE, "--gateway", "http://127.0.0.1:9", "smoke", "--replay", "--parallel", "16", "-n", str(samples),
         "--json"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    return elapsed, json.loads(result.stdout)["summary"]


if __name__ == "__main__":
    main()
