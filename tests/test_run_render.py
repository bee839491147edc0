"""One run record, one renderer: every step kind reads the same in ``sutazai show`` and the TUI's
Traces pane, an assistant's tool call included, and the Traces list folds child runs under their
parent. The JSON of ``show --json`` and MCP ``read_trace`` is one shape."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from sutazai.agents.run_record import DelegationStep, LlmStep, OtherStep, run_view, step_of
from sutazai.agents.runstore import RunStore
from sutazai.scaffolds.generate import init_workspace
from sutazai.workbench.run_render import render_step
from sutazai.workbench.tui.app import WorkbenchApp
from sutazai.workspace import Workspace
from tests.conftest import settled
from tests.test_cli import cli

EVERY_KIND = [
    (
        "llm",
        {
            "model": "fast",
            "messages": [
                {"role": "system", "content": "You plan. [Use tools.]"},
                {"role": "user", "content": "capital of France?"},
            ],
            "response": "",  # the model called a tool instead of answering
            "tool_calls": [{"id": "c1", "name": "ask_fact_finder", "arguments": '{"input": "capital?"}'}],
        },
    ),
    ("tool", {"tool": "ask_fact_finder", "arguments": {"input": "capital?"}, "result": "Paris"}),
    ("tool", {"tool": "word_count", "arguments": {"text": "a b"}, "result": "2"}),
    ("memory", {"query": "france", "hits": [{"text": "Paris is in France", "score": 0.91}]}),
    ("backoff", {"status": 429, "wait_s": 0.5, "message": "busy"}),
    ("entrypoint", {"entrypoint": "main:run", "input": "q", "response": "a"}),
    ("debug-pause", {"reason": "a kind from a newer version"}),
    ("error", {"status": "timeout"}),
]


def _recorded(root: Path) -> tuple[str, str]:
    store = RunStore(Workspace(root).runs_db)
    parent = store.start_run("planner", "capital of France?", "fast")
    for seq, (kind, data) in enumerate(EVERY_KIND, 1):
        store.add_step(parent, seq, kind, 1_700_000_000.0 + seq, 10.0 * seq, data, seq, 1)
    child = store.start_run("fact-finder", "capital?", "fast", parent, 2)
    store.add_step(
        child, 1, "llm", 1_700_000_001.0, 5.0, {"model": "fast", "messages": [], "response": "Paris"}
    )
    store.finish_run(child, "ok", "Paris", None, 3, 1)
    store.finish_run(parent, "ok", "The capital is Paris.", None, 40, 9)
    store.close()
    return parent, child


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_every_step_kind_is_typed_and_an_assistants_tool_call_is_shown(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    parent, child = _recorded(root)
    store = RunStore(Workspace(root).runs_db)
    view = run_view(store, store.run(parent))  # type: ignore[arg-type]
    kinds = [type(s).__name__ for s in view.steps]
    assert kinds == [
        "LlmStep",
        "DelegationStep",
        "ToolStep",
        "MemoryStep",
        "BackoffStep",
        "EntrypointStep",
        "OtherStep",
        "ErrorStep",
    ]
    llm = view.steps[0]
    assert isinstance(llm, LlmStep) and llm.answer == '→ ask_fact_finder({"input": "capital?"})'
    assert "response: → ask_fact_finder" in render_step(llm).plain  # never an empty `response:`
    assert isinstance(view.steps[1], DelegationStep) and view.steps[1].agent == "fact-finder"
    assert isinstance(view.steps[6], OtherStep)
    assert [c.run.id for c in view.children] == [child]
    assert step_of(store.steps(parent)[0]).record == store.steps(parent)[0]


def test_show_and_the_traces_pane_render_each_step_the_same(tmp_path: Path) -> None:
    import asyncio

    root = init_workspace(tmp_path / "ws")
    parent, child = _recorded(root)
    shown = cli("show", parent, cwd=root, env={**os.environ, "COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    cli_lines = _lines(shown.stdout)
    store = RunStore(Workspace(root).runs_db)
    steps = run_view(store, store.run(parent)).steps  # type: ignore[arg-type]
    for step in steps:
        for line in _lines(render_step(step).plain):
            assert line in cli_lines, f"{line!r} missing from sutazai show"
    assert any("step #2 → fact-finder run " + child in line for line in cli_lines)
    assert "[Use tools.]" in shown.stdout  # agent text is text, not markup

    async def tui_details() -> tuple[list[str], list[str], list[str]]:
        app = WorkbenchApp(Workspace(root), watch=False)
        async with app.run_test(size=(200, 50)) as pilot:
            await settled(pilot)
            app.action_show_tab("traces")
            await settled(pilot)
            table = app.query_one("#runs-table")
            folded = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]  # type: ignore[attr-defined]
            await pilot.press("space")
            await settled(pilot)
            unfolded = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]  # type: ignore[attr-defined]
            pane = app.query_one("#traces-pane")
            details = []
            for index in range(len(steps)):
                app.query_one("#steps-table").move_cursor(row=index)  # type: ignore[attr-defined]
                await settled(pilot)
                details.append(str(pane.query_one("#step-detail").render()))
            return folded, unfolded, details

    folded, unfolded, details = asyncio.run(tui_details())
    assert len(folded) == 1 and "planner" in folded[0] and "(+1)" in folded[0]  # the child is under it
    assert len(unfolded) == 2 and "↳" in unfolded[1] and "fact-finder" in unfolded[1]
    for step, detail in zip(steps, details, strict=True):
        assert _lines(detail) == _lines(render_step(step).plain)


def test_show_json_and_mcp_read_trace_share_one_shape(tmp_path: Path) -> None:
    import asyncio
    import sys

    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    root = init_workspace(tmp_path / "ws")
    parent, child = _recorded(root)
    shown = json.loads(cli("show", parent, "--json", cwd=root).stdout)

    async def read_trace() -> dict[str, object]:
        sutazai = str(Path(sys.executable).parent / "sutazai")
        params = StdioServerParameters(command=sutazai, args=["mcp"], cwd=str(root))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("read_trace", {"run_id": parent})
            return json.loads(result.content[0].text)  # type: ignore[union-attr,no-any-return]

    assert asyncio.run(read_trace()) == shown
    assert shown["id"] == parent and shown["children"][0]["id"] == child
    assert [s["kind"] for s in shown["steps"]] == [k for k, _ in EVERY_KIND]
    exported = cli("runs", "export", cwd=root).stdout.splitlines()
    assert [json.loads(line)["id"] for line in exported] == [parent]  # the child is inside its parent
    assert json.loads(exported[0]) == shown


def test_every_step_the_runtime_writes_reads_back_the_same(tmp_path: Path) -> None:
    """The write side and the read side are one type: a step stored with its kind's ``data()`` is
    the step ``step_of`` gives back, field for field (the stored record aside)."""
    from sutazai.agents.run_record import (
        BackoffStep,
        EntrypointStep,
        ErrorStep,
        MemoryHit,
        MemoryStep,
        Message,
        ToolCall,
        tool_step,
    )

    call = ToolCall("ask_fact_finder", '{"input": "capital?"}', "c1")
    steps = [
        LlmStep(
            started_at=1.0,
            duration_ms=2.0,
            prompt_tokens=30,
            completion_tokens=4,
            model="fast",
            messages=(
                Message("system", "You plan."),
                Message("user", "capital of France?"),
                Message("assistant", None, (call,)),
                Message("tool", "Paris", tool_call_id="c1"),
            ),
            response="",
            tool_calls=(call,),
            native_tools=True,
            tool_choice="required",
            exchange_key="k",
            first_token_ms=12.5,
        ),
        tool_step(
            started_at=1.0, duration_ms=1.0, tool="ask_fact_finder", arguments={"input": "c"}, result="P"
        ),
        tool_step(
            started_at=1.0,
            duration_ms=1.0,
            tool="calc",
            arguments={"x": "1"},
            result="error: bad",
            call="text",
            valid=False,
            problems=("x: not a number",),
            error="ValueError: bad",
        ),
        MemoryStep(started_at=1.0, duration_ms=1.0, query="q", hits=(MemoryHit("t", 0.5),)),
        BackoffStep(started_at=1.0, duration_ms=500.0, status=429, wait_s=0.5, message="busy"),
        EntrypointStep(started_at=1.0, duration_ms=1.0, entrypoint="main:run", input="q", response="a"),
        ErrorStep(started_at=1.0, duration_ms=0.0, status="timeout", error="took too long"),
    ]
    assert isinstance(steps[1], DelegationStep)
    store = RunStore(tmp_path / "runs.db")
    run = store.start_run("planner", "q", "fast")
    for seq, step in enumerate(steps, 1):
        store.add_step(
            run, seq, step.kind, step.started_at, step.duration_ms, step.data(),
            step.prompt_tokens, step.completion_tokens, step.error,
        )  # fmt: skip
    read = [step_of(s) for s in store.steps(run)]
    assert [type(s) for s in read] == [type(s) for s in steps]
    for seq, (written, back) in enumerate(zip(steps, read, strict=True), 1):
        assert back == dataclasses.replace(written, seq=seq)
    assert read[0].messages[2].to_json() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [call.openai()],
    }
