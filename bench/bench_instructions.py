"""Machine instructions per request, counted by valgrind: the gateway beside its two controls.

`bench_overhead` measures requests/s, which on a shared 2-core machine moves by ±30 % from one
minute to the next. Instructions do not: callgrind counts the same total for the same code and
load whatever else the machine is doing, so a change of a few per cent shows, and the ratio says
what the requests/s ratio would be where the server is the bottleneck (one process, one core).

Each server (the bare forwarder, the minimal gateway, the gateway) runs under
``valgrind --tool=callgrind`` with instrumentation off while it starts and warms up (``--warm``
requests), on for exactly ``--requests`` requests from ``--clients`` concurrent clients, then off;
the engine and the clients run natively. Needs valgrind (Debian's package).

    .venv/bin/python -m bench.bench_instructions [--requests 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.procs import free_port, gateway_command, process

BODY = b'{"model":"instant","messages":[{"role":"user","content":"hi"}],"max_tokens":8,"temperature":0.7}'
CHAT = "/v1/chat/completions"


async def _send(url: str, requests: int, clients: int) -> tuple[int, int]:
    """Exactly ``requests`` requests over ``clients`` connections: (answered 200, other)."""
    left, ok, other = requests, 0, 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client() -> None:
            nonlocal left, ok, other
            while left > 0:
                left -= 1
                async with session.post(url, data=BODY, headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                    ok, other = (ok + 1, other) if r.status == 200 else (ok, other + 1)

        await asyncio.gather(*(client() for _ in range(clients)))
    return ok, other


def _wait_answering(url: str, timeout_s: float = 300) -> None:
    """Up under valgrind (several times slower to start): the first request answered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if asyncio.run(_send(url, 1, 1))[0] == 1:
                return
        except aiohttp.ClientError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer under valgrind within {timeout_s:g} s")


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _dumped_total(folder: Path, timeout_s: float = 60) -> int:
    """The instructions of the dump taken while instrumentation was on (the largest total), once
    the server has written it (it does so in its next time slice, slow under valgrind)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [
            int(line.split()[1])
            for dump in folder.glob("callgrind.out*")
            for line in dump.read_text(errors="replace").splitlines()
            if line.startswith("totals:")
        ]
        if max(found, default=0) > 0:
            return max(found)
        time.sleep(0.5)
    raise RuntimeError(f"callgrind wrote no counts into {folder} within {timeout_s:g} s")


def _argv(server: str, port: int, engine_url: str, workspace: Path) -> tuple[list[str], dict[str, str]]:
    if server == "gateway":
        engines = (
            f'[[stack.engines]]\nname = "instant"\nkind = "openai"\nurl = "{engine_url}"\nslots = 256\n'
            'models = ["instant"]\n'
        )
        return gateway_command(workspace, port, engines)
    module = {"bare forwarder": "bench.forwarder", "minimal gateway": "bench.minimal_gateway"}[server]
    return [sys.executable, "-m", module, str(port), engine_url], {}


def count(server: str, engine_url: str, requests: int, clients: int, warm: int) -> tuple[float, int]:
    """Instructions per answered request of ``server``, and the requests not answered 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{CHAT}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv, env = _argv(server, port, engine_url, folder)
        valgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder}/callgrind.out",
        ]
        with process([*valgrind, *argv], None, env, stop_within_s=30) as proc:
            _wait_answering(url)
            asyncio.run(_send(url, warm, clients))
            _control(proc.pid, "--instr=on")
            ok, other = asyncio.run(_send(url, requests, clients))
            _control(proc.pid, "--instr=off")
            _control(proc.pid, "--dump")
            total = _dumped_total(folder)
    return (total / ok if ok else float("nan")), other


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("needs valgrind (Debian: apt-get install valgrind)")
    port = free_port()
    engine_url = f"http://127.0.0.1:{port}"
    servers = ("bare forwarder", "minimal gateway", "gateway")
    results: dict[str, list[float]] = {name: [] for name in servers}
    errors = 0
    with process([sys.executable, "-m", "bench.instant_engine", str(port)], engine_url + "/health"):
        for r in range(args.rounds):
            for name in servers[r % 3 :] + servers[: r % 3]:
                per_request, other = count(name, engine_url, args.requests, args.clients, args.warm)
                errors += other
                results[name].append(per_request)
                print(f"round {r + 1} {name:<16} {per_request:10,.0f} instructions a request, errors {other}")
    fwd, least, gw = (statistics.median(results[n]) for n in servers)
    print()
    for name in servers:
        rows = results[name]
        print(f"{name:<16} {statistics.median(rows):10,.0f} ({min(rows):,.0f}-{max(rows):,.0f})")
    print(f"errors (not counted): {errors}")
    print(f"gateway's features (gateway - minimal gateway): {gw - least:,.0f} instructions a request")
    print(f"forwarder / gateway, where the server is the bottleneck: {fwd / gw:.2f}x (target >= 0.8x)")
    print(f"forwarder / minimal gateway (control):                 {fwd / least:.2f}x")
    print(f"for 0.8x the gateway may take {fwd / 0.8:,.0f}: its features {fwd / 0.8 - least:,.0f} at most")


if __name__ == "__main__":
    main()
