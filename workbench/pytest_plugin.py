"""The pytest plugin (entry point ``pytest11``): ``pytest agents/`` collects every smoke case.

Each case becomes a test item named after it, with its tags as markers. ``--sutazai-replay`` runs
from cassettes with no engine; ``--sutazai-record`` records them. ``--sutazai-samples N`` runs each
case N times (the item fails if a sample fails; the pass rate is a property of the JUnit report),
``--sutazai-out FILE`` writes the results file ``sutazai smoke compare`` reads (one file, however many
pytest-xdist workers ran), and ``--sutazai-shard i/n`` keeps the i-th of n stable shards of the cases
for CI (``sutazai smoke merge`` joins the shards' files). Fixtures: ``sutazai_gateway`` (starts the
local stack for the session when no gateway answers) and ``sutazai_agent`` (run an agent from a test).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sutazai.errors import SpecError, UserError
from sutazai.workspace import AGENT_FILE, Workspace, find_root

_RUNNER = pytest.StashKey[Any]()
_GATEWAY = pytest.StashKey[str]()
_RESULTS = pytest.StashKey[list[tuple[Any, Any]]]()  # (item, its samples' results)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sutazai", "SutazAI smoke tests")
    group.addoption(
        "--sutazai-replay", action="store_true", help="replay smoke cassettes offline (no engine)"
    )
    group.addoption(
        "--sutazai-record", action="store_true", help="record smoke cassettes from the live gateway"
    )
    group.addoption("--sutazai-samples", type=int, default=1, help="runs of each case (default 1)")
    group.addoption("--sutazai-out", default=None, help="write the results file here (for smoke compare)")
    group.addoption("--sutazai-shard", default=None, help="i/n: run the i-th of n stable shards of the cases")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: a SutazAI smoke case")
    samples = config.getoption("--sutazai-samples", 1)
    if samples < 1:
        raise pytest.UsageError(f"--sutazai-samples must be 1 or more, not {samples}")
    _shard(config)  # a malformed shard is a usage error before collection


def _shard(config: pytest.Config) -> tuple[int, int] | None:
    given = config.getoption("--sutazai-shard", None)
    if given is None:
        return None
    match = re.fullmatch(r"(\d+)/(\d+)", str(given))
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise pytest.UsageError(f"--sutazai-shard takes i/n with 1 <= i <= n, not {given!r}")
    return int(match.group(1)), int(match.group(2))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--sutazai-shard i/n``: keep the smoke cases whose stable hash falls in shard i (every
    machine of a CI matrix agrees without talking); other tests are left alone."""
    import zlib

    shard = _shard(config)
    if shard is None:
        return
    index, count = shard
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        mine = not isinstance(item, SmokeItem) or zlib.crc32(item.nodeid.encode()) % count == index - 1
        (kept if mine else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """``--sutazai-out``: each xdist worker writes its part; the controller (or a plain run) merges
    the parts into the one file asked for."""
    config = session.config
    out = config.getoption("--sutazai-out", None)
    if out is None:
        return
    from sutazai.agents.smoke import results as results_file

    path = Path(out)
    worker = getattr(config, "workerinput", {}).get("workerid")
    document = _document(config)
    if worker is not None:
        if document is not None:
            results_file.write(path.with_name(f"{path.name}.{worker}.part"), document)
        return
    parts = [
        results_file.ResultsFile(p, json.loads(p.read_text()))
        for p in sorted(path.parent.glob(f"{path.name}.*.part"))
    ]
    if document is not None:
        parts.append(results_file.ResultsFile(path, document))
    if parts:
        results_file.write(path, results_file.merge(parts))
    for part in path.parent.glob(f"{path.name}.*.part"):
        part.unlink()


def _document(config: pytest.Config) -> dict[str, Any] | None:
    """The results of the smoke items this process ran, as ``sutazai smoke --out`` writes them."""
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.smoke import results as results_file
    from sutazai.agents.smoke.runner import AgentSuite

    ran = config.stash.get(_RESULTS, [])
    if not ran:
        return None
    roots = {item.workspace.root for item, _ in ran}
    if len(roots) > 1:
        raise pytest.UsageError(
            "--sutazai-out takes the cases of one workspace; run pytest once per workspace"
        )
    workspace = ran[0][0].workspace
    suites: dict[str, AgentSuite] = {}
    for item, _ in ran:
        suite = suites.setdefault(item.agent.name, AgentSuite(item.agent, item.smoke, []))
        suite.cases.append(item.case)
    catalog = AgentCatalog.scan(workspace)
    hashes = results_file.case_hashes(list(suites.values()), catalog, dict(workspace.settings.tiers))
    results = [r for _, samples in ran for r in samples]
    samples = config.getoption("--sutazai-samples", 1)
    return results_file.document(
        workspace.root, list(suites.values()), results, _mode(config), samples, hashes
    )


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
        samples = config.getoption("--sutazai-samples", 1)  # seeds vary by sample, as on the CLI
        runners[workspace.root] = SmokeRunner(workspace, _mode(config), parallel=1, samples=samples)  # type: ignore[arg-type]
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
        smoke = load_smoke(self.path)
        for case in smoke.cases:
            item = SmokeItem.from_parent(
                self, name=case.name, workspace=workspace, agent=agent, case=case, smoke=smoke
            )
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
    def __init__(self, *, workspace: Workspace, agent: Any, case: Any, smoke: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.workspace = workspace
        self.agent = agent
        self.case = case
        self.smoke = smoke
        # Some plugins' hook wrappers (pytest-lsp's) assume every item is a function with funcargs.
        self.funcargs: dict[str, Any] = {}

    def runtest(self) -> None:
        if _mode(self.config) != "replay":
            _ensure_gateway(self.config, self.workspace)
        runner = _runner(self.config, self.workspace)
        samples = self.config.getoption("--sutazai-samples", 1)

        async def every_sample() -> list[Any]:
            return [await runner.run_case(self.agent, self.case, sample=i) for i in range(samples)]

        results = asyncio.run(every_sample())
        runner.keep_latest(results)  # all samples at once: the case's pass rate, not its last draw
        self.config.stash.setdefault(_RESULTS, []).append((self, results))
        passed = sum(r.status == "passed" for r in results)
        self.user_properties.append(("latency_ms", round(results[0].latency_ms, 1)))
        self.user_properties.append(("pass_rate", f"{passed}/{len(results)}"))
        failed = [r for r in results if r.status != "passed"]
        if failed:
            first = failed[0]
            head = f"{len(failed)} of {len(results)} samples " if samples > 1 else ""
            raise SmokeCaseFailed(f"{head}{first.status}: " + "\n".join(first.reasons))

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
