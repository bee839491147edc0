"""The gateway's wire contract, in one place for the gateway and every client: scheduling classes,
header names and the shape of an error body. Like ollama's ``api/types.go``: change it here and
both sides move together."""

from __future__ import annotations

from typing import Literal

DEFAULT_PORT = 11435  # where a workspace's gateway listens unless [gateway] port says otherwise
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"

Priority = Literal["interactive", "normal", "batch"]
PRIORITIES: tuple[Priority, ...] = ("interactive", "normal", "batch")

# Sent by clients.
AGENT_HEADER = "X-Sutazai-Agent"  # who is asking: fairness, budgets and queue reports key on it
PRIORITY_HEADER = "X-Sutazai-Priority"  # one of PRIORITIES; interactive needs the token
TOKEN_HEADER = "X-Sutazai-Token"  # the workspace token (or `Authorization: Bearer`)
CACHE_HEADER = "X-Sutazai-Cache"  # "bypass": never answered from the response cache
RUN_HEADER = "X-Sutazai-Run"  # the run a request belongs to: its usage is counted for that run
RUN_BUDGET_HEADER = "X-Sutazai-Run-Budget"  # tokens the run may still use; refused past it

# Sent by the gateway.
ENGINE_HEADER = "X-SutazAI-Engine"
QUEUE_POSITION_HEADER = "X-SutazAI-Queue-Position"
QUEUE_ESTIMATE_HEADER = "X-SutazAI-Queue-Estimate-Ms"
QUEUE_WAIT_HEADER = "X-SutazAI-Queue-Wait-Ms"
BUDGET_HEADER = "X-SutazAI-Budget"  # "exceeded": waiting will not help, stop instead of backing off


def error_message(body: object) -> str | None:
    """The message of an error body in either dialect: OpenAI's ``{"error": {"message": ...}}`` or
    Ollama's ``{"error": "..."}``."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return str(message) if message is not None else None
    return str(error) if error is not None else None


def parse_priority(value: str) -> Priority:
    """``value`` as a priority, or ValueError naming the choices (for flags and form fields)."""
    for priority in PRIORITIES:
        if value.strip().lower() == priority:
            return priority
    raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {value!r}")
