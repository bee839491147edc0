"""``sutazai a2a serve`` as a real process on a free loopback port, for the A2A tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port, serving

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
        serving(f"{url}/.well-known/agent-card.json", server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
