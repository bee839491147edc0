"""Starting and stopping the servers a benchmark compares, each in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(
    argv: list[str], health_url: str | None, env: dict[str, str] | None = None, stop_within_s: float = 10
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running until the block ends (``health_url`` answering first, unless None)."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    try:
        if health_url is not None:
            wait_http(health_url)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(stop_within_s)
        except subprocess.TimeoutExpired:
            proc.kill()


BENCH_TOKEN = "bench-token"  # the gateway's token, for interactive priority and /admin/stats
ADMIN = {"Authorization": f"Bearer {BENCH_TOKEN}"}


def gateway_command(
    workspace: Path, port: int, engines_toml: str, extra_stack: str = ""
) -> tuple[list[str], dict[str, str]]:
    """The gateway's command line and environment, its settings written into ``workspace``."""
    (workspace / "sutazai.toml").write_text(
        f'[gateway]\nport = {port}\n[tiers]\nfast = "instant"\n[stack]\nembedded = false\n{extra_stack}\n{engines_toml}'
    )
    argv = [sys.executable, "-m", "sutazai.stack.gateway.serve", "--workspace", str(workspace)]
    return argv, {"SUTAZAI_GATEWAY_TOKEN": BENCH_TOKEN}


@contextmanager
def gateway(engines_toml: str, extra_stack: str = "") -> Iterator[str]:
    """A gateway process with its own workspace, fronting the given engines."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv, env = gateway_command(Path(tmp), port, engines_toml, extra_stack)
        with process(argv, f"http://127.0.0.1:{port}/healthz", env=env):
            time.sleep(0.5)  # first health round
            yield f"http://127.0.0.1:{port}"


def load(
    url: str, body: dict[str, object], clients: int, seconds: float, headers: dict[str, str] | None = None
) -> dict[str, float]:
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        url,
        "--body",
        json.dumps(body),
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
    ]
    for k, v in (headers or {}).items():
        argv += ["--header", f"{k}:{v}"]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]
