from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from sutazai.scaffolds.generate import init_workspace
from sutazai.workspace import Workspace
from tests.external import use_cached_tools
from tests.scripted_engine import ScriptedEngine


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``), every test that needs the embedded engine runs on
    one worker, one after another: one stack for the session, and two cores are not split between
    two engines. Everything else spreads over the other workers. A test that takes the real stack
    is slow whether or not it says so (one that did not put the engine into the fast loop)."""
    for item in items:
        if "real_stack" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("engine"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ADMIN_TOKEN = "test-admin-token"
# Tests never read the developer's own settings (~/.config/sutazai/config.toml): every process the
# suite starts looks for user config in an empty folder of its own.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="sutazai-tests-config-")
os.environ["SUTAZAI_CACHE_DIR"] = tempfile.mkdtemp(prefix="sutazai-tests-cache-")  # the TUI's listing
use_cached_tools()  # Aider, GPT-Engineer and the coding agents live in the checkout, not the home


def admin_stats(url: str, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    """``/admin/stats``, with the token the gateway under test was given."""
    import httpx

    response = httpx.get(f"{url}/admin/stats", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def eventually(check: Callable[[], object], timeout: float = 5.0, every: float = 0.05) -> None:
    """Poll until ``check()`` is truthy; fail the test when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def serving(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 200 from the server ``process`` started; fail with what it said
    on stderr if it exits or the time passes first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            said = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise AssertionError(f"{process.args} did not come up at {url}: {said[-2000:]}")
        time.sleep(0.2)


class ServerThread:
    """Runs an aiohttp app on its own loop in a thread, so sync and async tests can both use it."""

    def __init__(self, app: web.Application, **runner_options: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, **{"handler_cancellation": True, **runner_options})
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._thread.is_alive():
            return  # stopped already (a test took the server down on purpose)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def scripted_gateway(root: Path, engine: ScriptedEngine) -> Iterator[str]:
    """The real gateway in front of a scripted engine, written into ``root``'s ``sutazai.toml``
    with the workspace token, as ``stack up`` leaves them: front ends find both where they look."""
    from sutazai.stack.gateway.app import build_app
    from sutazai.stack.gateway.config import GatewayConfig
    from sutazai.stack.gateway.core import Gateway
    from sutazai.stack.gateway.engines import EngineConfig

    token = Workspace(root).ensure_gateway_token()
    with ServerThread(engine.app()) as scripted:
        config = GatewayConfig(
            engines=[EngineConfig("e", "openai", scripted.url, 4, ["smollm2"], ["e5-small"])],
            tiers={"fast": ["smollm2"], "quality": ["smollm2"], "local": ["smollm2"], "embed": ["e5-small"]},
            token=token,
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            toml = root / "sutazai.toml"
            toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", gw.url))
            yield gw.url


async def settled(pilot: Any, timeout: float = 30.0) -> None:
    """Wait for the TUI's work, never for a fixed time: the first frame, then every worker it has
    started (the file watcher excepted: it runs for the app's life), then the messages they posted."""
    from textual.worker import WorkerState

    app = pilot.app
    deadline = time.monotonic() + timeout
    while not getattr(app, "painted", True) and time.monotonic() < deadline:
        await pilot.pause()
    while time.monotonic() < deadline:
        await pilot.pause()
        busy = [
            w
            for w in app.workers
            if w.group != "watch" and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]
        if not busy:
            await pilot.pause()
            return
        await asyncio.wait(
            [asyncio.ensure_future(_finished(w)) for w in busy], timeout=deadline - time.monotonic()
        )
    raise AssertionError(f"workers still running after {timeout:g} s: {[w.name for w in app.workers]}")


async def _finished(worker: Any) -> None:
    with contextlib.suppress(Exception):
        await worker.wait()


@pytest.fixture
def engine() -> Iterator[tuple[ScriptedEngine, str]]:
    scripted = ScriptedEngine()
    with ServerThread(scripted.app()) as server:
        yield scripted, server.url


@pytest.fixture
def demo_root(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws", demo=True)


@pytest.fixture
def workspace(demo_root: Path, engine: tuple[ScriptedEngine, str]) -> Workspace:
    return Workspace(demo_root, flags={"gateway": {"url": engine[1]}})


def write_stack_config(root: Path, **stack: object) -> dict[str, int]:
    """Give a test workspace its own ports so several stacks can run side by side."""
    ports = {"gateway": free_port(), "engine": free_port(), "embedder": free_port()}
    lines = [
        f"port = {ports['gateway']}" if line.startswith("port =") else line
        for line in (root / "sutazai.toml").read_text().splitlines()
    ]
    lines = [
        f'url = "http://127.0.0.1:{ports["gateway"]}"' if line.startswith("url =") else line for line in lines
    ]
    extra = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in stack.items())
    text = (
        "\n".join(lines)
        + f"\n[stack]\nengine_port = {ports['engine']}\nembedder_port = {ports['embedder']}\n"
    )
    (root / "sutazai.toml").write_text(text + extra)
    return ports


@pytest.fixture(scope="session")
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    """The real local stack (llama-server + SmolLM2, the embedder, the gateway) for the session."""
    from sutazai.stack import control

    root = init_workspace(tmp_path_factory.mktemp("stack") / "ws", demo=True)
    write_stack_config(root, parallel=8)
    toml = root / "sutazai.toml"
    # A 135M model rambles to the cap when a tool asks for long output (GPT-Engineer's files): half
    # the default keeps the suite a minute faster. Not less: Codex gets min(cap, a quarter of the
    # window) = 1,024 either way, and a rambling tool call cut at 384 left it with nothing to print.
    toml.write_text(toml.read_text().replace("[gateway]\n", "[gateway]\nmax_output_tokens = 1024\n", 1))
    workspace = Workspace(root)
    assert workspace.settings.gateway.max_output_tokens == 1024
    control.up(workspace, detach=True, timeout_s=60)
    try:
        yield workspace, workspace.settings.gateway.url
    finally:
        control.down(workspace)
