"""Every expectation kind, passing and failing."""

from __future__ import annotations

import pytest

from sutazai.agents.smoke.expectations import Outcome, check
from sutazai.agents.smoke.spec import Expectations

ANSWER = Outcome(
    'The capital of France is Paris. {"ok": true}',
    [{"name": "calculator", "arguments": {"x": "1"}}],
    latency_ms=120,
    completion_tokens=40,
    judge_score=4,
)


@pytest.mark.parametrize(
    ("expect", "passes"),
    [
        ({"contains": "paris"}, True),
        ({"contains": ["Paris", "Berlin"]}, False),
        ({"not_contains": "Berlin"}, True),
        ({"not_contains": "France"}, False),
        ({"regex": r"capital of \w+"}, True),
        ({"regex": r"^\d+$"}, False),
        ({"tool_called": "calculator"}, True),
        ({"tool_called": "clock"}, False),
        ({"tool_called": {"name": "calculator", "arguments": {"x": "1"}}}, True),
        ({"tool_called": {"name": "calculator", "arguments": {"x": "2"}}}, False),
        ({"max_latency_ms": 500}, True),
        ({"max_latency_ms": 100}, False),
        ({"max_tokens": 40}, True),
        ({"max_tokens": 39}, False),
        ({"judge": {"rubric": "names the capital", "min_score": 4}}, True),
        ({"judge": {"rubric": "names the capital", "min_score": 5}}, False),
    ],
)
def test_expectations(expect: dict[str, object], passes: bool) -> None:
    failures = check(Expectations.model_validate(expect), ANSWER)
    assert (not failures) is passes, failures


def test_json_schema_expectation() -> None:
    schema = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}
    expect = Expectations.model_validate({"json_schema": schema})
    assert check(expect, Outcome('```json\n{"ok": true}\n```')) == []
    assert "not JSON" in check(expect, Outcome("sure! ok"))[0]
    assert "does not validate at ok" in check(expect, Outcome('{"ok": "yes"}'))[0]


def test_failures_carry_a_diff() -> None:
    [failure] = check(Expectations.model_validate({"contains": "Berlin"}), ANSWER)
    assert "-Berlin" in failure and "+The capital of France" in failure


@pytest.mark.parametrize(
    ("text", "score"),
    [('{"score": 4}', 4), ('{"score": 9}', 0), ("3", 3), ("I give it a 5.", 5), ("great", 0), ("", 0)],
)
def test_the_judges_score_is_read_from_its_json_or_else_its_first_digit(text: str, score: int) -> None:
    from sutazai.agents.smoke.runner import judge_score

    assert judge_score(text) == score
