"""Checking one case's outcome against its expectations; each failure says why, with a diff."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sutazai.agents.smoke.spec import Expectations, ToolExpectation, TrajectoryExpectation


@dataclass
class Outcome:
    output: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    judge_score: int | None = None
    similarity: float | None = None  # to similar_to's reference, when the case has one
    status: str = "ok"
    trajectory: dict[str, list[str]] = field(default_factory=dict)  # agent -> tools it called
    agent: str = ""  # the run's own agent (the trajectory's default)


def _as_list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _diff(expected: str, actual: str) -> str:
    lines = difflib.unified_diff([expected], [actual], "expected", "answer", lineterm="", n=0)
    return "\n".join(lines)


def check(expect: Expectations, outcome: Outcome) -> list[str]:
    """Every unmet expectation, as a sentence (and a diff where one helps)."""
    failures: list[str] = []
    text = outcome.output
    for needle in _as_list(expect.contains):
        if needle.lower() not in text.lower():
            failures.append(f"answer does not contain {needle!r}\n{_diff(needle, text)}")
    for needle in _as_list(expect.not_contains):
        if needle.lower() in text.lower():
            failures.append(f"answer contains {needle!r}, which it must not")
    if expect.regex is not None and re.search(expect.regex, text) is None:
        failures.append(f"answer does not match /{expect.regex}/\n{_diff(expect.regex, text)}")
    if expect.json_schema is not None:
        failures += _check_json(expect.json_schema, text)
    if expect.tool_called is not None:
        failures += _check_tool(expect.tool_called, outcome.tool_calls)
    if expect.max_latency_ms is not None and outcome.latency_ms > expect.max_latency_ms:
        failures.append(f"took {outcome.latency_ms:.0f} ms, over {expect.max_latency_ms:g} ms")
    if expect.max_tokens is not None and outcome.completion_tokens > expect.max_tokens:
        failures.append(f"used {outcome.completion_tokens} completion tokens, over {expect.max_tokens}")
    if expect.max_total_tokens is not None:
        total = outcome.prompt_tokens + outcome.completion_tokens
        if total > expect.max_total_tokens:
            failures.append(f"used {total} tokens in all, over {expect.max_total_tokens}")
    if (expect.status or "ok") != outcome.status:
        failures.append(f"run ended {outcome.status!r}, expected {expect.status or 'ok'!r}")
    for want in expect.trajectory or []:
        failures += _check_trajectory(want, outcome)
    if expect.judge is not None and (outcome.judge_score or 0) < expect.judge.min_score:
        failures.append(f"judge scored {outcome.judge_score}, below {expect.judge.min_score}")
    if expect.similar_to is not None and (outcome.similarity or 0.0) < expect.similar_to.threshold:
        failures.append(
            f"answer is {outcome.similarity or 0.0:.2f} similar to the reference, under "
            f"{expect.similar_to.threshold:.2f}\n{_diff(expect.similar_to.text, text)}"
        )
    return failures


def trajectory_matches(mode: str, expected: list[str], actual: list[str]) -> bool:
    if mode == "exact":
        return actual == expected
    if mode == "any_order":
        return Counter(actual) == Counter(expected)
    if mode == "subset":
        return set(actual) <= set(expected)
    if mode == "superset":
        return set(expected) <= set(actual)
    remaining = iter(actual)  # in_order: expected is a subsequence of actual
    return all(any(call == want for call in remaining) for want in expected)


def _check_trajectory(want: TrajectoryExpectation, outcome: Outcome) -> list[str]:
    agent = want.agent or outcome.agent
    if want.agent and want.agent not in outcome.trajectory:
        return [f"agent {want.agent!r} did not run in this run's tree (ran: {', '.join(outcome.trajectory)})"]
    actual = outcome.trajectory.get(agent, [])
    if trajectory_matches(want.mode, want.calls, actual):
        return []
    who = f"{agent} called" if want.agent else "called"
    return [f"trajectory ({want.mode}) not met: expected {want.calls}, {who} {actual}"]


def _check_json(schema: dict[str, Any], text: str) -> list[str]:
    import jsonschema

    candidate = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", candidate, re.DOTALL)
    if fenced:
        candidate = fenced.group(1).strip()
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError as exc:
        return [f"answer is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return [f"answer JSON does not validate at {where}: {exc.message}"]
    return []


def _check_tool(expected: str | ToolExpectation, calls: list[dict[str, Any]]) -> list[str]:
    want = (
        expected if isinstance(expected, ToolExpectation) else ToolExpectation(name=expected, arguments=None)
    )
    called = [c for c in calls if c["name"] == want.name]
    if not called:
        seen = ", ".join(c["name"] for c in calls) or "none"
        return [f"tool {want.name!r} was not called (called: {seen})"]
    if want.arguments is None:
        return []
    for call in called:
        if all(call["arguments"].get(k) == v for k, v in want.arguments.items()):
            return []
    got = json.dumps(called[0]["arguments"], sort_keys=True)
    return [
        f"tool {want.name!r} called with other arguments\n{_diff(json.dumps(want.arguments, sort_keys=True), got)}"
    ]
