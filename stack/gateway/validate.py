"""Checks at the edge, shared by both dialects: a client's mistake is a 400 that says what to fix,
found before any work is queued, never a 500 or a generation that runs until the context is full.

Each check names the field the way the client wrote it (``messages[2].tool_calls[0].function``),
so the error reads the same whichever dialect it is rendered in.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sutazai.stack.gateway.types import GatewayHTTPError

Dialect = Literal["openai", "ollama"]
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Letters and digits of any script, and the separators ids and e-mail addresses use.
AGENT_NAME = re.compile(r"[\w.:@/+-]{1,128}")
MAX_AGENT_NAME = 128
NUMBER_OPTIONS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)


def bad(message: str) -> GatewayHTTPError:
    return GatewayHTTPError(400, message, kind="invalid_request_error")


def agent_name(raw: str) -> str:
    """Agent names key per-agent state: bounded in length and characters (no control bytes, no
    undecodable UTF-8, which once broke ``/admin/stats`` for everyone)."""
    if not AGENT_NAME.fullmatch(raw):
        raise bad(
            f"agent name {raw[:40]!r} is invalid: use 1-{MAX_AGENT_NAME} letters, digits or . _ : @ / + -"
        )
    return raw


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_options(options: dict[str, Any], token_key: str) -> None:
    """Sampling options: numbers are numbers, the token limit is a whole number >= 0."""
    for key in NUMBER_OPTIONS:
        if key in options and options[key] is not None and not _is_number(options[key]):
            raise bad(f"`{key}` must be a number")
    if options.get("seed") is not None and not _is_int(options["seed"]):
        raise bad("`seed` must be an integer")
    stop = options.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise bad("`stop` must be a string or a list of strings")
    limit = options.get("max_tokens")
    if limit is not None and (not _is_int(limit) or limit < 0):
        raise bad(f"`{token_key}` must be a whole number >= 0 (the gateway caps it at the context size)")
    response_format = options.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise bad("`response_format` must be an object")


def check_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise bad("`tools` must be a list")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad(
                f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}"
            )
        if "parameters" in function and not isinstance(function["parameters"], dict | None):
            raise bad(f"tools[{i}].function.parameters must be a JSON Schema object")
    return tools or None


def _check_content(content: Any, where: str, dialect: Dialect) -> None:
    if content is None or isinstance(content, str):
        return
    if dialect == "openai" and isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return
    raise bad(f"{where}.content must be a string" + (" or a list of parts" if dialect == "openai" else ""))


def _check_tool_calls(calls: Any, where: str, dialect: Dialect) -> None:
    if not isinstance(calls, list):
        raise bad(f"{where}.tool_calls must be a list")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad(f"{at} must be {{'function': {{'name': ..., 'arguments': ...}}}}")
        arguments = function.get("arguments")
        allowed: tuple[type, ...] = (str,) if dialect == "openai" else (dict, str)
        if arguments is not None and not isinstance(arguments, allowed):
            shape = "a JSON string" if dialect == "openai" else "an object"
            raise bad(f"{at}.function.arguments must be {shape}")


def check_messages(messages: Any, dialect: Dialect) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise bad("`messages` is required and must be a list")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad(f"{where} must be an object with a `role`")
        role = message.get("role")
        if role not in ROLES:
            raise bad(f"{where}.role must be one of {', '.join(sorted(ROLES))}")
        _check_content(message.get("content"), where, dialect)
        if message.get("tool_calls") is not None:
            _check_tool_calls(message["tool_calls"], where, dialect)
        for key in ("tool_call_id", "name"):
            if message.get(key) is not None and not isinstance(message[key], str):
                raise bad(f"{where}.{key} must be a string")
        images = message.get("images")
        if images is not None and not (isinstance(images, list) and all(isinstance(x, str) for x in images)):
            raise bad(f"{where}.images must be a list of base64 strings")
    return messages
