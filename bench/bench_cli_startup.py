"""``sutazai --help`` start-up time (target: under 0.5 s), best and median of repeated runs.

.venv/bin/python -m bench.bench_cli_startup [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "sutazai")
    for command in (["--help"], ["schema"]):
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([exe, *command], capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        print(
            f"sutazai {' '.join(command):<8} median {statistics.median(times) * 1000:6.0f} ms  "
            f"best {min(times) * 1000:6.0f} ms  (target < 500 ms)"
        )


if __name__ == "__main__":
    main()
