"""Tool calls on SmolLM2-135M (the embedded engine): 40 prompts, 5 tools of different argument shapes.

    .venv/bin/python -m bench.bench_tool_calls

Modes, interleaved prompt by prompt so drift on this machine hits each alike:
- engine, tools as sent: llama-server given the OpenAI ``tools`` field directly (what clients got
  before the gateway made tool calls work: the control);
- gateway, tool_choice required / auto: the gateway's grammar path, through the official client;
- text protocol: our ``TOOL: name {json}`` line protocol, unconstrained;
- latency control: the grammar path's own prompt sent to the engine without the schema.

Counted per mode: answers that are calls, schema-valid calls (arguments validate against the named
tool's JSON Schema), the right tool with every required argument present, and errors (HTTP or client
failures, printed, never counted as answers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from bench.procs import free_port, gateway, process
from sutazai.agents.protocol import parse_text_call
from sutazai.stack.embedded import CTX_PER_SLOT, engine_command, find_model
from sutazai.stack.gateway.tool_calls import ToolChoice, constrain, instructions
from sutazai.stack.gateway.types import ChatRequest


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


TOOLS = [
    _fn(
        "get_weather",
        "Get the current weather in a city.",
        {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        ["city", "unit"],
    ),
    _fn(
        "convert_currency",
        "Convert an amount of money from one currency to another.",
        {
            "amount": {"type": "number"},
            "from_currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"]},
            "to_currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"]},
        },
        ["amount", "from_currency", "to_currency"],
    ),
    _fn(
        "send_email",
        "Send an email message to someone.",
        {"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
        ["to", "subject", "body"],
    ),
    _fn(
        "create_event",
        "Put a meeting or event in the calendar.",
        {
            "title": {"type": "string"},
            "when": {
                "type": "object",
                "properties": {"date": {"type": "string"}, "time": {"type": "string"}},
                "required": ["date", "time"],
            },
            "attendees": {"type": "array", "items": {"type": "string"}},
        },
        ["title", "when", "attendees"],
    ),
    _fn(
        "set_thermostat",
        "Set the heating temperature of a room in the house.",
        {
            "room": {"type": "string", "enum": ["kitchen", "bedroom", "living room", "office"]},
            "degrees": {"type": "integer"},
        },
        ["room", "degrees"],
    ),
]
PROMPTS: list[tuple[str, str]] = [
    ("get_weather", "What's the weather like in Paris right now, in celsius?"),
    ("get_weather", "Is it raining in London? Give me fahrenheit."),
    ("get_weather", "Weather in Tokyo please, celsius."),
    ("get_weather", "How hot is it in Cairo today? Use fahrenheit."),
    ("get_weather", "Tell me the current weather for Oslo in celsius."),
    ("get_weather", "I'm flying to Madrid. What's the weather there (fahrenheit)?"),
    ("get_weather", "Check the weather in Berlin, celsius."),
    ("get_weather", "What is the temperature outside in Toronto in fahrenheit?"),
    ("convert_currency", "Convert 100 USD to EUR."),
    ("convert_currency", "How much is 50 euros in Japanese yen?"),
    ("convert_currency", "Change 20 GBP into USD."),
    ("convert_currency", "I have 1000 JPY. What is that in pounds?"),
    ("convert_currency", "Convert 75.5 EUR to USD for me."),
    ("convert_currency", "What is 300 dollars in euros?"),
    ("convert_currency", "Exchange 12 GBP to EUR."),
    ("convert_currency", "How many yen do I get for 40 USD?"),
    ("send_email", "Email bob@example.com with the subject 'Lunch' and say I'll be late."),
    ("send_email", "Send an email to alice@example.org: subject Report, body: the report is attached."),
    ("send_email", "Write to hr@example.com, subject 'Holiday', telling them I'm off on Friday."),
    ("send_email", "Send mom@example.net an email titled 'Sunday' saying see you at noon."),
    ("send_email", "Mail team@example.com subject 'Build' body 'the build is green'."),
    ("send_email", "Email carol@example.com to say thanks for the help, subject Thanks."),
    ("send_email", "Send an email to ops@example.com with subject Outage and body 'db is down'."),
    ("send_email", "Let dave@example.com know by email (subject: Keys) that I left the keys."),
    ("create_event", "Schedule a meeting called Standup on 2026-12-02 at 09:00 with Ann and Bo."),
    ("create_event", "Put 'Dentist' in my calendar for 2026-12-05 at 14:30, just me."),
    ("create_event", "Create an event Team lunch on 2026-12-10 at 12:00 with Cy, Di and Ed."),
    ("create_event", "Add a call 'Budget review' on 2026-12-03 at 16:00 with Finance."),
    ("create_event", "Book 'Yoga' for 2026-12-06 at 07:00 with Gail."),
    ("create_event", "Calendar: 'Launch party' on 2026-12-20 at 19:00, attendees Hal and Ida."),
    ("create_event", "Set up a meeting 'Retro' on 2026-12-04 at 15:00 with the dev team."),
    ("create_event", "New event 'Interview' 2026-12-08 10:00 with Jo."),
    ("set_thermostat", "Set the kitchen to 21 degrees."),
    ("set_thermostat", "Make the bedroom 18 degrees."),
    ("set_thermostat", "Turn the living room heating to 22."),
    ("set_thermostat", "Office temperature to 20 degrees please."),
    ("set_thermostat", "I'm cold: set the bedroom to 23 degrees."),
    ("set_thermostat", "Heat the kitchen to 19."),
    ("set_thermostat", "Living room at 24 degrees, please."),
    ("set_thermostat", "Lower the office to 17 degrees."),
]
SCHEMAS = {t["function"]["name"]: Draft202012Validator(t["function"]["parameters"]) for t in TOOLS}
REQUIRED = {t["function"]["name"]: t["function"]["parameters"]["required"] for t in TOOLS}
MAX_TOKENS = 160


@dataclass
class Tally:
    answers: int = 0
    calls: int = 0
    valid: int = 0
    right: int = 0
    errors: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)

    def add(self, expected: str, calls: list[tuple[str, Any]], ms: float, tokens: int) -> None:
        self.answers += 1
        self.latency_ms.append(ms)
        self.tokens.append(tokens)
        if not calls:
            return
        self.calls += 1
        name, arguments = calls[0]
        valid = name in SCHEMAS and isinstance(arguments, dict) and SCHEMAS[name].is_valid(arguments)
        self.valid += valid
        self.right += (
            name == expected and isinstance(arguments, dict) and all(k in arguments for k in REQUIRED[name])
        )

    def line(self, label: str) -> str:
        n = self.answers or 1
        p50 = statistics.median(self.latency_ms) if self.latency_ms else 0.0
        return (
            f"{label:<34} calls {self.calls:>2}/{self.answers:<2} schema-valid {self.valid:>2}/{self.calls:<2} "
            f"right tool+required args {self.right:>2}/{self.answers:<2} ({100 * self.right / n:3.0f}%)  "
            f"p50 {p50:6.0f} ms  errors {len(self.errors)}"
        )


def _calls_from_openai(message: dict[str, Any]) -> list[tuple[str, Any]]:
    calls = []
    for call in message.get("tool_calls") or []:
        try:
            arguments = json.loads(call["function"]["arguments"] or "{}")
        except json.JSONDecodeError:
            arguments = None
        calls.append((call["function"]["name"], arguments))
    return calls


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    response = client.post(url, json=body)
    ms = (time.perf_counter() - t0) * 1000
    response.raise_for_status()
    return response.json(), ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    model = find_model()
    assert model, "install the embedded engine first (scripts/setup)"
    port = free_port()
    engine = f"http://127.0.0.1:{port}"
    command = engine_command(model, port, args.parallel, 2, ctx_per_slot=CTX_PER_SLOT)
    engines = (
        f'[[stack.engines]]\nname = "embedded"\nkind = "llamacpp"\nurl = "{engine}"\n'
        f'slots = {args.parallel}\nmodels = ["smollm2"]\ncontext = {CTX_PER_SLOT}\n'
    )
    print(f"SmolLM2-135M, {len(PROMPTS)} prompts, {len(TOOLS)} tools, temperature 0, max_tokens {MAX_TOKENS}")
    with process(command.argv, engine + "/health", env=command.env), gateway(engines) as via:
        client = httpx.Client(timeout=120)
        base = {"model": "smollm2", "temperature": 0, "max_tokens": MAX_TOKENS}
        for _ in range(3):  # warm the engine and the gateway
            _post(
                client,
                f"{via}/v1/chat/completions",
                {**base, "messages": [{"role": "user", "content": "hi"}]},
            )

        def engine_as_is(prompt: str) -> tuple[list[tuple[str, Any]], float, int]:
            body = {
                **base,
                "messages": [{"role": "user", "content": prompt}],
                "tools": TOOLS,
                "tool_choice": "required",
            }
            data, ms = _post(client, f"{engine}/v1/chat/completions", body)
            return _calls_from_openai(data["choices"][0]["message"]), ms, data["usage"]["completion_tokens"]

        def through_gateway(choice: str) -> Callable[[str], tuple[list[tuple[str, Any]], float, int]]:
            def ask(prompt: str) -> tuple[list[tuple[str, Any]], float, int]:
                body = {
                    **base,
                    "messages": [{"role": "user", "content": prompt}],
                    "tools": TOOLS,
                    "tool_choice": choice,
                }
                data, ms = _post(client, f"{via}/v1/chat/completions", body)
                return (
                    _calls_from_openai(data["choices"][0]["message"]),
                    ms,
                    data["usage"]["completion_tokens"],
                )

            return ask

        def text_protocol(prompt: str) -> tuple[list[tuple[str, Any]], float, int]:
            signatures = "\n".join(
                f"- {t['function']['name']}({', '.join(t['function']['parameters']['properties'])}): "
                f"{t['function']['description']}"
                for t in TOOLS
            )
            system = (
                f"You can use these tools:\n{signatures}\nTo use a tool, reply with one line and nothing else:\n"
                'TOOL: tool_name {"argument": "value"}'
            )
            body = {
                **base,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            }
            data, ms = _post(client, f"{engine}/v1/chat/completions", body)
            parsed = parse_text_call(data["choices"][0]["message"]["content"] or "", set(SCHEMAS))
            calls = [(parsed.name, parsed.arguments)] if parsed else []
            return calls, ms, data["usage"]["completion_tokens"]

        def unconstrained(prompt: str) -> tuple[list[tuple[str, Any]], float, int]:
            """The grammar path's exact prompt, without the schema: what the constraint itself costs."""
            rewritten, _ = constrain(
                ChatRequest(
                    "smollm2",
                    messages=[{"role": "user", "content": prompt}],
                    tools=TOOLS,
                    tool_choice="required",
                )
            )
            body = {**base, "messages": rewritten.messages}
            data, ms = _post(client, f"{engine}/v1/chat/completions", body)
            return [], ms, data["usage"]["completion_tokens"]

        modes: dict[str, Callable[[str], tuple[list[tuple[str, Any]], float, int]]] = {
            "engine, tools as sent (control)": engine_as_is,
            "gateway, tool_choice required": through_gateway("required"),
            "gateway, tool_choice auto": through_gateway("auto"),
            "text protocol (TOOL: lines)": text_protocol,
            "same prompt, no grammar (latency)": unconstrained,
        }
        tallies = {name: Tally() for name in modes}
        for i, (expected, prompt) in enumerate(PROMPTS):
            names = list(modes)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                try:
                    calls, ms, tokens = modes[name](prompt)
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    tallies[name].errors.append(f"{prompt[:30]}: {type(exc).__name__}: {exc}")
                    continue
                tallies[name].add(expected, calls, ms, tokens)
        for name, tally in tallies.items():
            print(tally.line(name))
            for error in tally.errors[:5]:
                print(f"    error: {error}")
        constrained = tallies["gateway, tool_choice required"]
        plain = tallies["same prompt, no grammar (latency)"]
        per_token_c = statistics.median(
            ms / max(t, 1) for ms, t in zip(constrained.latency_ms, constrained.tokens, strict=True)
        )
        per_token_u = statistics.median(
            ms / max(t, 1) for ms, t in zip(plain.latency_ms, plain.tokens, strict=True)
        )
        print(
            f"constrained decoding: p50 {statistics.median(constrained.latency_ms):.0f} ms a call "
            f"({statistics.median(constrained.tokens):.0f} tokens) vs the same prompt unconstrained "
            f"{statistics.median(plain.latency_ms):.0f} ms ({statistics.median(plain.tokens):.0f} tokens); "
            f"per token {per_token_c:.1f} vs {per_token_u:.1f} ms"
        )
        print(
            f"(the prompts' tool instructions: {len(instructions(TOOLS, ToolChoice('required')))} characters)"
        )


if __name__ == "__main__":
    main()
