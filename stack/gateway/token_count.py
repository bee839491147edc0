"""How many tokens a prompt is, before it is sent: what ``/v1/messages/count_tokens`` answers, so
a coding agent can tell whether its prompt fits the window before it asks.

The engine serving the model counts under its own chat template where it can (llama-server);
elsewhere it is an estimate of four characters a token. Tools count as the JSON the grammar path
puts in the system prompt.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.types import EngineFailure

CHARS_PER_TOKEN = 4


def estimate(messages: list[dict[str, Any]]) -> int:
    return math.ceil(len(orjson.dumps(messages)) / CHARS_PER_TOKEN)


async def count_tokens(
    gateway: Gateway, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> int:
    if tools:
        messages = [{"role": "system", "content": orjson.dumps(tools).decode()}, *messages]
    engine, resolved = gateway.candidates(model)[0]  # a 404 naming the models if none serves it
    try:
        counted = await engine.count_tokens(resolved, messages)
    except (EngineFailure, KeyError, TypeError):
        counted = None
    return counted if counted is not None else estimate(messages)
