"""Keys for recorded exchanges: the runtime stamps each model call with one, and cassettes (smoke
replay, ``smoke add --from-run``) find answers by it. Here, not in the smoke harness, so the runtime
needs nothing from it."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def chat_key(messages: list[dict[str, Any]], model: str, tools: list[dict[str, Any]] | None) -> str:
    return digest({"model": model, "messages": messages, "tools": tools})
