"""Answers from tool results on SmolLM2-135M: how the grammar path lays out the results decides
whether a small model uses them.

    .venv/bin/python -m bench.bench_tool_answers [--rounds 6]

After a tool ran, the gateway sends a model without tool calling of its own a plain chat (see
``stack/gateway/tool_calls.py``). Each case is a question, one tool call and its result, with the
facts a right answer contains. Layouts, sent to the engine as the gateway would send them and
interleaved case by case in a rotating order:

- the gateway today: whatever ``constrain`` builds now;
- asked again after the results: the question, the results, "Answer from these results." in one
  user turn (the layout before 2026-12-06);
- results as the assistant's turn: the question, the results as what the assistant said, then
  "Answer from these results.";
- results first: the results, then the question, in one user turn;
- no results (the control): the question alone, so a fact found anyway is counted for what it is.

Each at the engine's own sampling (what Continue's CLI gets: it sends no temperature) for
``--rounds`` rounds, and once greedy (temperature 0). Errors are counted apart, never as answers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.procs import free_port, process
from sutazai.stack.embedded import CTX_PER_SLOT, engine_command, find_model
from sutazai.stack.gateway.tool_calls import constrain
from sutazai.stack.gateway.types import ChatRequest

CONTINUE_SYSTEM = (
    "You are an agent in the Continue CLI. Given the user's prompt, you should use the tools available"
    " to you to answer the user's question.\n\nNotes:\n1. IMPORTANT: You should be concise, direct, and"
    " to the point, since your responses will be displayed on a command line interface.\n2. When"
    " relevant, share file names and code snippets relevant to the query\n\nIMPORTANT: You are running"
    " in headless mode. Provide ONLY your final answer to the user's question. Be direct and concise."
)
AGENTS = "chat-buddy", "code-helper", "fact-finder", "planner", "summarizer"


@dataclass(frozen=True)
class Case:
    asked: str
    tool: str
    result: str
    facts: tuple[str, ...]  # a right answer names at least `needed` of these
    needed: int = 1
    system: str | None = None

    def right(self, answer: str) -> bool:
        return sum(fact.lower() in answer.lower() for fact in self.facts) >= self.needed


CASES = [
    Case(
        "Use the list_agents tool to list the agents of this workspace, then name them.",
        "list_agents",
        "5 agents:\n- chat-buddy (conversation, fast): A friendly conversational assistant.\n"
        "- code-helper (code, fast): Explains and writes small pieces of Python code.\n"
        "- fact-finder (knowledge, fast): Answers questions from its knowledge memory.\n"
        "- planner (document, fast): Plans an answer, asking fact-finder and summarizer.\n"
        "- summarizer (document, fast): Summarises documents in one or two sentences.",
        AGENTS,
        needed=2,
        system=CONTINUE_SYSTEM,
    ),
    Case(
        "What is the weather in Oslo right now?",
        "get_weather",
        '{"city": "Oslo", "temperature_c": -7, "condition": "snow"}',
        ("-7", "snow"),
    ),
    Case(
        "How much is 250 USD in EUR?",
        "convert_currency",
        '{"amount": 231.85, "currency": "EUR"}',
        ("231.85",),
    ),
    Case(
        "Who wrote the incident report?",
        "search_documents",
        "incident-report.md: Written by Ingrid Nakamura on 3 March. The outage lasted 41 minutes.",
        ("Nakamura",),
    ),
    Case(
        "Which port does the server listen on? Check config.yaml.",
        "read_file",
        "server:\n  host: 127.0.0.1\n  port: 8731\n  workers: 4\n",
        ("8731",),
        system=CONTINUE_SYSTEM,
    ),
    Case(
        "How many open issues does the repository have?",
        "count_issues",
        '{"open": 23, "closed": 412}',
        ("23",),
    ),
    Case(
        "What time is the team meeting tomorrow?",
        "list_events",
        "2026-12-07 09:30 Team meeting (room Fjord)\n2026-12-07 14:00 Dentist",
        ("9:30", "09:30"),
    ),
    Case(
        "Is the disk almost full?",
        "disk_usage",
        "Filesystem /dev/sda1: 96% used, 4.1G free of 100G",
        ("96", "4.1"),
    ),
]

Layout = Callable[[Case], list[dict[str, Any]]]


def _system(case: Case) -> list[dict[str, Any]]:
    return [{"role": "system", "content": case.system}] if case.system else []


def _as_client_sent(case: Case) -> list[dict[str, Any]]:
    """The history an OpenAI client sends after the call ran."""
    call = {"id": "call_1", "type": "function", "function": {"name": case.tool, "arguments": "{}"}}
    return [
        *_system(case),
        {"role": "user", "content": case.asked},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": case.result},
    ]


def gateway_today(case: Case) -> list[dict[str, Any]]:
    request, envelope = constrain(ChatRequest(model="smollm2", messages=_as_client_sent(case)))
    assert not envelope and request.messages is not None
    return request.messages


def asked_again_after(case: Case) -> list[dict[str, Any]]:
    results = f"{case.tool} returned:\n{case.result}"
    turn = f"{case.asked}\n\n{results}\n\nAnswer from these results."
    return [*_system(case), {"role": "user", "content": turn}]


def results_as_assistant_turn(case: Case) -> list[dict[str, Any]]:
    return [
        *_system(case),
        {"role": "user", "content": case.asked},
        {"role": "assistant", "content": f"{case.tool} returned:\n{case.result}"},
        {"role": "user", "content": "Answer from these results."},
    ]


def results_first(case: Case) -> list[dict[str, Any]]:
    turn = f"{case.tool} returned:\n{case.result}\n\n{case.asked}"
    return [*_system(case), {"role": "user", "content": turn}]


def no_results(case: Case) -> list[dict[str, Any]]:
    return [*_system(case), {"role": "user", "content": case.asked}]


LAYOUTS: dict[str, Layout] = {
    "the gateway today": gateway_today,
    "asked again after the results": asked_again_after,
    "results as the assistant's turn": results_as_assistant_turn,
    "results first": results_first,
    "no results (control)": no_results,
}


@dataclass
class Tally:
    right: int = 0
    answers: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self, label: str) -> str:
        n = self.answers or 1
        return f"{label:<34} right {self.right:>3}/{self.answers:<3} ({100 * self.right / n:3.0f}%)  errors {len(self.errors)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6, help="rounds at the engine's own sampling")
    args = parser.parse_args()
    model = find_model()
    assert model, "install the embedded engine first (scripts/setup)"
    port = free_port()
    engine = f"http://127.0.0.1:{port}"
    command = engine_command(model, port, 2, 2, ctx_per_slot=CTX_PER_SLOT)
    print(f"SmolLM2-135M, {len(CASES)} cases, {len(LAYOUTS)} layouts, max_tokens 200")
    with process(command.argv, engine + "/health", env=command.env), httpx.Client(timeout=120) as client:

        def answer(messages: list[dict[str, Any]], sampling: dict[str, Any]) -> str:
            body = {"messages": messages, "max_tokens": 200, **sampling}
            response = client.post(f"{engine}/v1/chat/completions", json=body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"] or "")

        for _ in range(3):  # warm the engine
            answer([{"role": "user", "content": "hi"}], {})
        samplings = {"engine's own sampling": ({}, args.rounds), "temperature 0": ({"temperature": 0}, 1)}
        for sampling_name, (sampling, rounds) in samplings.items():
            tallies = {name: Tally() for name in LAYOUTS}
            hits: dict[str, list[int]] = {name: [0] * len(CASES) for name in LAYOUTS}
            names = list(LAYOUTS)
            turn = 0
            for _ in range(rounds):
                for c, case in enumerate(CASES):
                    turn += 1
                    for name in names[turn % len(names) :] + names[: turn % len(names)]:
                        try:
                            text = answer(LAYOUTS[name](case), sampling)
                        except (httpx.HTTPError, KeyError, ValueError) as exc:
                            tallies[name].errors.append(f"{case.tool}: {type(exc).__name__}: {exc}")
                            continue
                        tallies[name].answers += 1
                        if case.right(text):
                            tallies[name].right += 1
                            hits[name][c] += 1
            print(f"\n{sampling_name}, {rounds} round(s):")
            for name, tally in tallies.items():
                print(
                    tally.line(name)
                    + f"  per case {' '.join(map(str, hits[name]))}"
                    + f"  (cases never right: {hits[name].count(0)})"
                )
                for error in tally.errors[:5]:
                    print(f"    error: {error}")
        print(
            f"\n(per case: right answers out of the rounds, cases in order: {json.dumps([c.tool for c in CASES])})"
        )


if __name__ == "__main__":
    main()
