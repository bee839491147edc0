"""Starting a real embedded engine (llama.cpp's server + SmolLM2) for tests that need to kill or pin one."""

from __future__ import annotations

import os
import subprocess
import time

import httpx

from sutazai.stack.embedded import engine_command, find_model
from tests.conftest import free_port


class LlamaServer:
    def __init__(self, parallel: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()
        self.parallel = parallel
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LlamaServer:
        model = find_model()
        assert model, "the embedded engine is not installed: run scripts/setup"
        command = engine_command(model, self.port, self.parallel, 2, ctx_per_slot=2048)
        self.proc = subprocess.Popen(
            command.argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **command.env},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the engine did not become healthy")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
