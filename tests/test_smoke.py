"""``sutazai smoke`` end to end: live, record, replay with no engine, stale cassettes, bad files,
an engine that is down, JUnit, and the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

from sutazai.scaffolds.generate import init_workspace
from tests.conftest import ServerThread
from tests.scripted_engine import Reply, ScriptedEngine

SUTAZAI = str(Path(sys.executable).parent / "sutazai")
SMOKE = """cases:
  - name: names-paris
    input: What is the capital of France?
    tags: [fast, geo]
    expect:
      contains: Paris
  - name: uses-calculator
    input: What is 6 times 7?
    expect:
      tool_called: {name: calculator, arguments: {expression: "6*7"}}
      contains: "42"
  - name: judged
    conversation:
      - {role: user, content: Hi}
      - {role: assistant, content: Hello!}
      - {role: user, content: Say something kind.}
    expect:
      judge: {rubric: is kind, min_score: 3}
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUTAZAI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _replies() -> list[Reply]:
    return [
        Reply("Paris is the capital."),
        Reply('TOOL: calculator {"expression": "6*7"}'),
        Reply("It is 42."),
        Reply("You are wonderful."),
        Reply("4"),
    ]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = init_workspace(tmp_path / "ws")
    from sutazai.scaffolds.generate import new_agent

    new_agent(root / "agents", "helper", "code")
    (root / "agents" / "helper" / "smoke.yaml").write_text(SMOKE)
    return root


def _serve(replies: list[Reply]) -> tuple[ScriptedEngine, ServerThread]:
    engine = ScriptedEngine(replies=replies)
    return engine, ServerThread(engine.app())


def test_live_record_then_replay_without_any_engine(ws: Path) -> None:
    engine, server = _serve(_replies())
    with server:
        live = cli("--gateway", server.url, "smoke", "--json", "--parallel", "1", "--record", cwd=ws)
    assert live.returncode == 0, live.stdout + live.stderr
    report = json.loads(live.stdout)
    assert report["summary"]["passed"] == 3
    assert all(h.get("X-Sutazai-Priority") == "batch" for h in engine.headers)
    assert (ws / "agents" / "helper" / "smoke.cassette.json").exists()
    graded = [r for r in engine.requests if "response_format" in r]  # the judge, held to its schema
    assert len(graded) == 1 and graded[0]["response_format"]["json_schema"]["name"] == "grade"

    replay = cli("--gateway", "http://127.0.0.1:9", "smoke", "--replay", "--json", cwd=ws)
    assert replay.returncode == 0, replay.stdout
    cases = {c["case"]: c for c in json.loads(replay.stdout)["cases"]}
    assert (
        cases["names-paris"]["output"] == "Paris is the capital."
        and cases["uses-calculator"]["status"] == "passed"
    )

    tagged = json.loads(cli("smoke", "--replay", "--json", "--tag", "geo", cwd=ws).stdout)
    assert [c["case"] for c in tagged["cases"]] == ["names-paris"]


def test_failures_stale_cassettes_and_junit(ws: Path, tmp_path: Path) -> None:
    replies = _replies()
    replies[0] = Reply("Lyon, I think.")
    _, server = _serve(replies)
    with server:
        failed = cli(
            "--gateway",
            server.url,
            "smoke",
            "--parallel",
            "1",
            "--record",
            "--junit",
            str(tmp_path / "out.xml"),
            cwd=ws,
        )
    assert failed.returncode == 1 and "does not contain 'Paris'" in failed.stdout
    xml = JUnitXml.fromfile(str(tmp_path / "out.xml"))
    suites = list(xml)
    assert suites[0].name == "helper" and suites[0].tests == 3 and suites[0].failures == 1

    prompt = ws / "agents" / "helper" / "prompt.md"
    prompt.write_text(prompt.read_text() + "\nAlways be brief.\n")
    stale = cli("smoke", "--replay", "--json", cwd=ws)
    assert stale.returncode == 1
    assert {c["status"] for c in json.loads(stale.stdout)["cases"]} == {"stale"}


def test_engine_down_has_its_own_exit_code(ws: Path) -> None:
    down = cli("--gateway", "http://127.0.0.1:9", "smoke", "--json", cwd=ws)
    assert down.returncode == 3
    assert {c["status"] for c in json.loads(down.stdout)["cases"]} == {"unavailable"}


def test_broken_smoke_file_names_file_and_line(ws: Path) -> None:
    (ws / "agents" / "helper" / "smoke.yaml").write_text(
        "cases:\n  - name: x\n    input: hi\n    expect:\n      containz: y\n"
    )
    broken = cli("smoke", cwd=ws)
    assert broken.returncode == 2 and "smoke.yaml:5:7" in broken.stderr and "containz" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.heavy  # whole pytest sessions in subprocesses: not the inner loop
def test_pytest_plugin_collects_cases_with_tags_as_markers(ws: Path) -> None:
    _, server = _serve(_replies())
    with server:
        toml = ws / "sutazai.toml"
        toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", server.url))
        record = subprocess.run(
            [sys.executable, "-m", "pytest", "agents", "--sutazai-record", "-p", "no:cacheprovider", "-q"],
            cwd=ws,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "4 passed" in record.stdout, record.stdout  # 3 smoke cases + the scaffolded test_helper.py
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "agents",
            "--sutazai-replay",
            "-m",
            "geo",
            "-v",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "smoke.yaml::names-paris PASSED" in replay.stdout and "1 passed, 3 deselected" in replay.stdout
    workers = subprocess.run(  # pytest-xdist: two workers, replay mode, no gateway answering
        [
            sys.executable,
            "-m",
            "pytest",
            "agents",
            "--sutazai-replay",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert workers.returncode == 0 and "3 passed, 1 skipped" in workers.stdout, workers.stdout
    assert not (ws / ".sutazai" / "stack").exists()  # replay mode started nothing, in no worker
    assert not subprocess.run(["pgrep", "-f", f"supervisor --workspace {ws}"], capture_output=True).stdout


def test_fixtures_run_an_agent(ws: Path) -> None:
    _, server = _serve([Reply("Fixture says hi.")])
    (ws / "test_agent.py").write_text(
        "def test_it(sutazai_agent):\n"
        "    result = sutazai_agent('helper')('hi')\n"
        "    assert result.status == 'ok' and result.output == 'Fixture says hi.'\n"
    )
    with server:
        toml = ws / "sutazai.toml"
        toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", server.url))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "test_agent.py", "-q", "-p", "no:cacheprovider"],
            cwd=ws,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "1 passed" in result.stdout, result.stdout


def test_a_tool_that_reads_the_clock_replays_what_was_recorded(tmp_path: Path) -> None:
    """Tool results are part of the cassette: a replay sees the recorded time, so the model's next
    request matches the recorded one instead of going stale."""
    from sutazai.scaffolds.generate import new_agent

    root = init_workspace(tmp_path / "ws")
    folder = new_agent(root / "agents", "timer", "code")
    spec = folder / "agent.yaml"
    spec.write_text(spec.read_text().replace("tools: [", "tools: [now, "))
    (folder / "tools.py").write_text(
        (folder / "tools.py").read_text() + '\n\ndef now() -> str:\n    """The time."""\n'
        "    import time\n\n    return str(time.time_ns())\n"
    )
    (folder / "smoke.yaml").write_text(
        "cases:\n  - name: tells-time\n    input: What time is it?\n    expect:\n      tool_called: now\n"
    )
    _engine, server = _serve([Reply("TOOL: now {}"), Reply("It is now.")])
    with server:
        live = cli("--gateway", server.url, "smoke", "--json", "--record", cwd=root)
    assert json.loads(live.stdout)["summary"]["passed"] == 1, live.stdout + live.stderr
    recorded = json.loads((folder / "smoke.cassette.json").read_text())["cases"]["tells-time"]
    assert [e["kind"] for e in recorded["samples"][0]] == ["capabilities", "chat", "tool", "chat"]
    replay = cli("--gateway", "http://127.0.0.1:9", "smoke", "--replay", "--json", cwd=root)
    assert json.loads(replay.stdout)["summary"] == {
        "passed": 1,
        "failed": 0,
        "stale": 0,
        "error": 0,
        "unavailable": 0,
        "skipped": 0,
    }, replay.stdout
