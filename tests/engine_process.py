"""Starting a real llama-server (SmolLM2) for tests that need to kill or pin one."""

from __future__ import annotations

import subprocess
import time

import httpx

from sutazai.stack.embedded import find_llama_server, find_model, llama_server_command
from tests.conftest import free_port


class LlamaServer:
    def __init__(self, parallel: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()
        self.parallel = parallel
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LlamaServer:
        server, model = find_llama_server(), find_model()
        assert server and model, "the embedded engine is not installed: run scripts/setup"
        argv, env = llama_server_command(server, model, self.port, self.parallel, 2, ctx_per_slot=2048)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("llama-server did not become healthy")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
