"""The agent debugger: ``sutazai dap`` driven by Microsoft's own DAP test client
(``@vscode/debugadapter-testsupport``'s ``DebugClient``, from npm), and the engine's logic.

The gateway is real; its engine is scripted, so the model's calls (the calculator on ``2**8``, a
delegation to ``calc``) are the same every run. What is under test is the debugger: where it stops,
what it shows, and that an edit is what the tool receives and what the trace records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sutazai.agents.breakpoints import (
    BreakpointTable,
    ConditionError,
    HitContext,
    SourceBreakpoint,
    compile_condition,
    evaluate,
    meaningful_lines,
)
from sutazai.agents.runstore import RunStore
from sutazai.scaffolds.generate import init_workspace
from tests.conftest import scripted_gateway
from tests.scripted_engine import Reply, ScriptedEngine

ROOT = Path(__file__).resolve().parents[1]
SUTAZAI = str(Path(sys.executable).parent / "sutazai")
FLOW = Path(__file__).with_name("dap") / "flow.cjs"
CALC = """name: calc
description: Calculates.
kind: code
tier: fast
temperature: 0
prompt:
  file: prompt.md
tools:
  - clock
  - calculator
limits:
  max_iterations: 3
"""
BOSS = """name: boss
description: Asks calc.
kind: document
tier: fast
temperature: 0
prompt:
  text: You delegate arithmetic to calc.
delegates:
  - calc
limits:
  max_iterations: 3
"""


def write_agents(root: Path) -> int:
    """The two agents; the line of `calculator` under `tools:` in calc's spec."""
    for name, spec in (("calc", CALC), ("boss", BOSS)):
        folder = root / "agents" / name
        folder.mkdir(parents=True)
        (folder / "agent.yaml").write_text(spec)
    (root / "agents" / "calc" / "prompt.md").write_text("You calculate.\nUse the calculator.\n")
    return CALC.splitlines().index("  - calculator") + 1


@pytest.fixture(scope="module")
def testsupport() -> str:
    """Microsoft's DAP test client, installed from npm once into the repository's cache."""
    if shutil.which("npm") is None:
        pytest.skip("needs npm (Node.js)")
    prefix = ROOT / ".cache" / "npm" / "dap-testsupport"
    main = prefix / "node_modules" / "@vscode" / "debugadapter-testsupport" / "lib" / "main.js"
    if not main.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "@vscode/debugadapter-testsupport@1",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return str(main)


@pytest.fixture
def debuggee(tmp_path: Path) -> Iterator[tuple[Path, int, ScriptedEngine]]:
    root = init_workspace(tmp_path / "ws")
    line = write_agents(root)
    engine = ScriptedEngine(default="done")
    with scripted_gateway(root, engine):
        yield root, line, engine


def flow(testsupport: str, root: Path, line: int, scenario: str, **env: str) -> None:
    result = subprocess.run(
        ["node", str(FLOW), scenario],
        env={
            **os.environ,
            "DAP_TESTSUPPORT": testsupport,
            "SUTAZAI": SUTAZAI,
            "WS": str(root),
            "CALC_LINE": str(line),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def steps_of(root: Path, agent: str) -> tuple[str, list[dict[str, object]]]:
    store = RunStore(root / ".sutazai" / "runs.db")
    try:
        run = store.runs(agent, 1)[0]
        return run.id, [{"kind": s.kind, **s.data} for s in store.steps(run.id)]
    finally:
        store.close()


def test_a_breakpoint_on_a_tools_line_stops_before_the_call_and_an_edit_is_what_the_tool_gets(
    testsupport: str, debuggee: tuple[Path, int, ScriptedEngine]
) -> None:
    root, line, engine = debuggee
    engine.replies += [
        Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": "2**8"}}]),
        Reply("1024."),
    ]
    flow(testsupport, root, line, "edit")
    run_id, steps = steps_of(root, "calc")
    [tool] = [s for s in steps if s["kind"] == "tool"]
    assert tool["arguments"] == {"expression": "2**10"} and tool["result"] == "1024"  # the edited call ran
    [debug] = [s for s in steps if s["kind"] == "debug"]
    assert debug["point"] == "tool" and debug["reason"] == "breakpoint"
    assert debug["edits"] == ["arguments.expression: '2**8' -> '2**10'"]
    shown = subprocess.run([SUTAZAI, "show", run_id], cwd=root, capture_output=True, text=True, timeout=60)
    assert "edited arguments.expression" in " ".join(shown.stdout.split())  # the trace says so

    flow(testsupport, root, line, "mistakes", RUN_ID=run_id)


def test_a_recorded_run_is_debugged_offline(
    testsupport: str, debuggee: tuple[Path, int, ScriptedEngine]
) -> None:
    """A run recorded without the debugger (a failed smoke sample, say), debugged again later:
    answered from its own record, with no engine call at all."""
    root, line, engine = debuggee
    engine.replies += [
        Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": "2**8"}}]),
        Reply("256."),
    ]
    ran = subprocess.run(
        [SUTAZAI, "run", "calc", "What is 2**8?", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    run_id = json.loads(ran.stdout)["run_id"]
    asked = len(engine.requests)
    flow(testsupport, root, line, "replay", RUN_ID=run_id)
    assert len(engine.requests) == asked


def test_step_into_a_delegated_agent(testsupport: str, debuggee: tuple[Path, int, ScriptedEngine]) -> None:
    root, line, engine = debuggee
    engine.replies += [
        Reply(tool_calls=[{"name": "ask_calc", "arguments": {"input": "What is 2**3?"}}]),
        Reply("8"),
        Reply("calc says 8"),
    ]
    flow(testsupport, root, line, "stepin")
    _, boss = steps_of(root, "boss")
    assert [s["kind"] for s in boss if s["kind"] == "debug"] == ["debug"]
    _, calc = steps_of(root, "calc")
    assert [s["point"] for s in calc if s["kind"] == "debug"] == ["model"]  # stopped in the child


# --- the engine's logic -------------------------------------------------------------------------


def test_conditions_compare_and_refuse_everything_else() -> None:
    context = HitContext("calc", "tool", {"tool": "calculator", "arguments": {"expression": "2**8"}}, 0)
    holds = compile_condition('tool == "calculator" and "**" in args.expression')
    assert evaluate(holds, context.names()) is True
    assert evaluate(compile_condition('args["expression"] == "2**8" and iteration < 1'), context.names())
    assert not evaluate(compile_condition("args.missing > 3"), context.names())  # None > 3: does not hold
    for bad, message in [
        ("tool ==", "does not parse"),
        ("__import__('os')", "not allowed"),
        ("open", "unknown name"),
        ("tool.lower()", "not allowed"),
    ]:
        with pytest.raises(ConditionError, match=message):
            compile_condition(bad)


def test_breakpoints_hit_counts_and_log_points(tmp_path: Path) -> None:
    line = write_agents(tmp_path)
    spec = tmp_path / "agents" / "calc" / "agent.yaml"
    lines = meaningful_lines(spec)
    assert lines[line].names == ("calculator",) and lines[line].point == "tool"
    prompt_lines = meaningful_lines(tmp_path / "agents" / "calc" / "prompt.md")
    assert set(prompt_lines) == {1, 2} and prompt_lines[1].point == "model"
    assert meaningful_lines(tmp_path / "agents" / "calc" / "tools.py") == {}
    table = BreakpointTable()
    [counted] = table.set_file(spec, [SourceBreakpoint(line, hit_condition=">= 2")], lines)
    call = HitContext("calc", "tool", {"tool": "calculator", "arguments": {}}, 0)
    logged: list[str] = []
    assert table.hit(call, logged.append) is None and table.hit(call, logged.append) is counted
    other = HitContext("calc", "tool", {"tool": "clock", "arguments": {}}, 0)
    assert table.hit(other, logged.append) is None  # a breakpoint on calculator's line only
    table.set_file(spec, [SourceBreakpoint(line, log_message="calc got {args.expression}")], lines)
    assert (
        table.hit(
            HitContext("calc", "tool", {"tool": "calculator", "arguments": {"expression": "1+1"}}, 0),
            logged.append,
        )
        is None
    )
    assert logged == ["calc got 1+1"]
    [bad] = table.set_file(spec, [SourceBreakpoint(line, hit_condition="often")], lines)
    assert not bad.verified and "hit count" in (bad.message or "")
    assert json.dumps(counted.message) and counted.message == "before calc calls tool calculator"


def test_a_client_that_leaves_while_paused_cancels_the_run_and_it_is_recorded(
    debuggee: tuple[Path, int, ScriptedEngine],
) -> None:
    """Raw DAP over stdio: launch, stop at the breakpoint, then the editor goes away."""
    from sutazai.workbench.dap.wire import frame

    root, line, engine = debuggee
    engine.replies += [Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": "1+1"}}])]
    adapter = subprocess.Popen([SUTAZAI, "dap"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert adapter.stdin is not None and adapter.stdout is not None
    spec = str(root / "agents" / "calc" / "agent.yaml")
    requests = [
        ("initialize", {"adapterID": "sutazai"}),
        ("launch", {"agent": "calc", "input": "1+1?"}),
        ("setBreakpoints", {"source": {"path": spec}, "breakpoints": [{"line": line}]}),
        ("configurationDone", {}),
    ]
    for seq, (command, arguments) in enumerate(requests, 1):
        adapter.stdin.write(
            frame({"seq": seq, "type": "request", "command": command, "arguments": arguments})
        )
    adapter.stdin.flush()
    seen = b""
    while b'"event": "stopped"' not in seen:
        chunk = adapter.stdout.read1(65536)  # type: ignore[attr-defined]
        assert chunk, seen.decode()
        seen += chunk
    adapter.stdin.close()  # the editor is gone
    assert adapter.wait(timeout=30) == 0
    _, steps = steps_of(root, "calc")
    store = RunStore(root / ".sutazai" / "runs.db")
    try:
        run = store.runs("calc", 1)[0]
    finally:
        store.close()
    assert run.status == "cancelled" and "cancelled by the debugger" in (run.error or "")
    assert [s["kind"] for s in steps][-2:] == ["debug", "error"]
    assert not [s for s in steps if s["kind"] == "tool"]  # the paused call never ran
