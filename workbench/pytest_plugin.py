"""The pytest plugin (entry point ``pytest11``): ``pytest agents/`` collects every smoke case.

Each case becomes a test item named after it, with its tags as markers. ``--sutazai-replay`` runs
from cassettes with no engine; ``--sutazai-record`` records them. Fixtures: ``sutazai_gateway``
(starts the local stack for the session when no gateway answers) and ``sutazai_agent`` (run an
agent from a test).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sutazai.errors import SpecError, UserError
from sutazai.workspace import AGENT_FILE, Workspace, find_root

_RUNNER = pytest.StashKey[Any]()
_GATEWAY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sutazai", "SutazAI smoke tests")
    group.addoption(
        "--sutazai-replay", action="store_true", help="replay smoke cassettes offline (no engine)"
    )
    group.addoption(
        "--sutazai-record", action="store_true", help="record smoke cassettes from the live gateway"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: a SutazAI smoke case")


def _mode(config: pytest.Config) -> str:
    if config.getoption("--sutazai-replay", False):
        return "replay"
    return "record" if config.getoption("--sutazai-record", False) else "live"


def _answers(url: str) -> bool:
    from sutazai.agents.gateway_client import GatewayClient

    async def models() -> list[str]:
        async with GatewayClient(url, timeout_s=2.0) as client:
            return await client.models()

    try:
        asyncio.run(models())
    except UserError:
        return False
    return True


def _ensure_gateway(config: pytest.Config, workspace: Workspace) -> str:
    """The workspace's gateway URL, starting the local stack if none answers (never in replay mode).

    pytest-xdist workers share one stack: under a lock, the first that finds no gateway starts it,
    each worker signs in (a file named after its process), and the last to sign out stops it.
    """
    if _GATEWAY in config.stash:
        return config.stash[_GATEWAY]
    url = workspace.settings.gateway.url
    if _mode(config) == "replay":
        if not _answers(url):
            pytest.skip(
                f"replay mode starts nothing, and no gateway answers at {url}: run live, or `sutazai stack up`"
            )
        config.stash[_GATEWAY] = url
        return url
    from sutazai.files import locked, private_dir
    from sutazai.procs import ProcessRef
    from sutazai.stack import control
    from sutazai.stack.services import stack_dir

    folder = stack_dir(workspace)
    started = folder / "pytest-started"
    if not started.exists() and _answers(url):  # the user's own stack: use it, touch nothing
        config.stash[_GATEWAY] = url
        return url
    private_dir(folder)
    users = private_dir(folder / "pytest-users")
    me = users / ProcessRef.current().to_text().replace(" ", "_")
    with locked(folder / "pytest.lock", timeout_s=600):
        if not _answers(url):
            control.up(workspace, detach=True)
            started.touch()
        me.touch()

    def sign_out() -> None:
        with locked(folder / "pytest.lock", timeout_s=600):
            me.unlink(missing_ok=True)
            for user in users.iterdir():  # workers that died without signing out
                process = ProcessRef.from_text(user.name.replace("_", " "))
                if process is None or not process.alive():
                    user.unlink(missing_ok=True)
            if started.exists() and not any(users.iterdir()):
                started.unlink()
                control.down(workspace)

    config.add_cleanup(sign_out)
    config.stash[_GATEWAY] = url
    return url


def _runner(config: pytest.Config, workspace: Workspace) -> Any:
    from sutazai.agents.smoke.runner import SmokeRunner

    runners: dict[Path, Any] = config.stash.setdefault(_RUNNER, {})
    if workspace.root not in runners:
        runners[workspace.root] = SmokeRunner(workspace, _mode(config), parallel=1)  # type: ignore[arg-type]
    return runners[workspace.root]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or file_path.name.endswith(".cassette.json"):
        return None
    spec_file = file_path.parent / AGENT_FILE
    if not spec_file.exists() or find_root(file_path.parent) is None:
        return None
    import yaml

    from sutazai.yamlsafe import safe_load_yaml

    try:
        spec = safe_load_yaml(spec_file.read_text(encoding="utf-8"), spec_file) or {}
        smoke_name = spec.get("smoke", "smoke.yaml")
    except (yaml.YAMLError, SpecError, OSError, AttributeError):
        smoke_name = "smoke.yaml"
    if file_path.name != smoke_name:
        return None
    return SmokeFile.from_parent(parent, path=file_path)


class SmokeFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from sutazai.agents.loader import load_agent
        from sutazai.agents.smoke.spec import load_smoke

        root = find_root(self.path.parent)
        assert root is not None
        workspace = Workspace(root)
        agent = load_agent(self.path.parent)
        for case in load_smoke(self.path).cases:
            item = SmokeItem.from_parent(self, name=case.name, workspace=workspace, agent=agent, case=case)
            item.add_marker("smoke")
            for tag in case.tags:
                marker = re.sub(r"\W", "_", tag)
                self.config.addinivalue_line("markers", f"{marker}: smoke tag")
                item.add_marker(marker)
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class SmokeCaseFailed(Exception):
    pass


class SmokeItem(pytest.Item):
    def __init__(self, *, workspace: Workspace, agent: Any, case: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.workspace = workspace
        self.agent = agent
        self.case = case
        # Some plugins' hook wrappers (pytest-lsp's) assume every item is a function with funcargs.
        self.funcargs: dict[str, Any] = {}

    def runtest(self) -> None:
        if _mode(self.config) != "replay":
            _ensure_gateway(self.config, self.workspace)
        result = asyncio.run(_runner(self.config, self.workspace).run_case(self.agent, self.case))
        self.user_properties.append(("latency_ms", round(result.latency_ms, 1)))
        if result.status != "passed":
            raise SmokeCaseFailed(f"{result.status}: " + "\n".join(result.reasons))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SmokeCaseFailed):
            return f"{self.agent.name}::{self.case.name} {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"smoke {self.agent.name}::{self.case.name}"


@pytest.fixture(scope="session")
def sutazai_workspace(request: pytest.FixtureRequest) -> Workspace:
    root = find_root(Path.cwd()) or find_root(Path(str(request.config.rootpath)))
    if root is None:
        pytest.fail("no sutazai.toml in the current folder or its parents: run pytest inside a workspace")
    return Workspace(root)


@pytest.fixture(scope="session")
def sutazai_gateway(request: pytest.FixtureRequest, sutazai_workspace: Workspace) -> str:
    """The gateway URL; the local stack is started for the session when none is running."""
    return _ensure_gateway(request.config, sutazai_workspace)


@pytest.fixture
def sutazai_agent(
    sutazai_workspace: Workspace, sutazai_gateway: str
) -> Callable[[str], Callable[[str], Any]]:
    """``sutazai_agent("name")("input")`` runs the agent through the gateway and returns its result."""
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.session import RunOutcome, open_runtime, run_to_end

    def for_agent(name: str) -> Callable[[str], RunOutcome]:
        agent = AgentCatalog.scan(sutazai_workspace).get(name)

        def run(text: str) -> RunOutcome:
            async def go() -> RunOutcome:
                async with open_runtime(sutazai_workspace) as runtime:
                    return await run_to_end(runtime, agent, text)

            return asyncio.run(go())

        return run

    return for_agent
