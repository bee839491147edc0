"""Tool calling for models without native support: one ``TOOL: name {json}`` line per call.

Small local models follow this reliably where they fumble JSON tool schemas. The runtime also
accepts native ``tool_calls`` whenever the engine returns them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sutazai.agents.tools import Tool

MARKER = "TOOL:"
_CALL = re.compile(r"^\s*TOOL:\s*([A-Za-z_][\w-]*)\s*(\{.*\})?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: dict[str, Any]
    id: str | None = None


def instructions(tools: list[Tool]) -> str:
    lines = "\n".join(t.signature_line() for t in tools)
    return (
        "You can use these tools:\n"
        f"{lines}\n"
        "To use a tool, reply with one line and nothing else:\n"
        'TOOL: tool_name {"argument": "value"}\n'
        "The result comes back in a message that starts with RESULT:. Then give your final answer."
    )


def parse_text_call(content: str, known: set[str]) -> ParsedCall | None:
    for match in _CALL.finditer(content):
        name, raw = match.group(1), match.group(2)
        if name not in known:
            continue
        try:
            arguments = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            arguments = {"input": raw}
        return ParsedCall(name, arguments if isinstance(arguments, dict) else {"input": arguments})
    return None


def may_become_call(buffer: str) -> bool:
    """True while streamed text could still turn out to be a ``TOOL:`` line (so it is held back)."""
    head = buffer.lstrip()
    return MARKER.startswith(head) or head.startswith(MARKER)


def json_object(raw: str) -> dict[str, Any]:
    """A call's arguments as an object, whatever the model wrote (not JSON: kept as ``input``)."""
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {"input": raw}
    return value if isinstance(value, dict) else {"input": value}


def assistant_message(content: str, call: ParsedCall) -> dict[str, Any]:
    if call.id is None:
        return {"role": "assistant", "content": content}
    return {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
        ],
    }
