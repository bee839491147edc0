"""``sutazai a2a serve`` as a real process on a free loopback port, for the A2A tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

SUTAZAI = str(Path(sys.executable).parent / "sutazai")


@contextmanager
def a2a_serving(root: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve ``root``'s agents; yields the base URL once the workspace card answers."""
    port = free_port()
    server = subprocess.Popen(
        [SUTAZAI, "a2a", "serve", "--port", str(port)],
        cwd=root,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/.well-known/agent-card.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"a2a serve did not start: {server.stderr.read().decode() if server.stderr else ''}"
                )
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
