"""Replaying agents x 5 smoke cases x samples from cassettes, offline (issue 7: 150 agents under 10 s;
issue 24: 1,000 agents x 5 cases x 3 samples under 10 s).

Cassettes are first recorded against an instant engine; then ``sutazai smoke --replay`` runs with
the gateway URL pointing nowhere.

    .venv/bin/python -m bench.bench_smoke_replay [--agents 150] [--samples 1]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--samples", type=int, default=1)
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "sutazai")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", args.agents)
        for smoke in root.glob("agents/*/smoke.yaml"):
            smoke.write_text(CASES)
        port = free_port()
        engine = f"http://127.0.0.1:{port}"
        with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine + "/health"):
            subprocess.run(
                [
                    exe,
                    "--gateway",
                    engine,
                    "smoke",
                    "--record",
                    "--parallel",
                    "16",
                    "-n",
                    str(args.samples),
                    "--json",
                ],
                cwd=root,
                check=True,
                capture_output=True,
            )
        t0 = time.perf_counter()
        result = subprocess.run(
            [
                exe,
                "--gateway",
                "http://127.0.0.1:9",
                "smoke",
                "--replay",
                "--parallel",
                "16",
                "-n",
                str(args.samples),
                "--json",
            ],
            cwd=root,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - t0
        import json

        summary = json.loads(result.stdout)["summary"]
        print(
            f"replayed {args.agents} agents x 5 cases x {args.samples} samples ({summary}) "
            f"in {elapsed:.2f} s (target < 10 s)"
        )


if __name__ == "__main__":
    main()
