"""Secret redaction: nothing that looks like a credential reaches the run store, logs or traces."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"

# Well-known token shapes (OpenAI, Anthropic, GitHub, Slack, AWS, bearer headers, JWTs).
_PATTERNS = [
    r"sk-[A-Za-z0-9_\-]{16,}",
    r"gh[pousr]_[A-Za-z0-9]{20,}",
    r"xox[abpr]-[A-Za-z0-9\-]{10,}",
    r"AKIA[0-9A-Z]{16}",
    r"[Bb]earer\s+[A-Za-z0-9._\-]{12,}",
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
]
_SECRET_ENV_NAME = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)")
_SENSITIVE_KEYS = re.compile(r"(?i)^(authorization|api[_-]?key|x-api-key|password|secret|token)$")


class Redactor:
    """Replaces secret values and token-shaped strings with ``[REDACTED]``.

    Secret values come from environment variables whose names look secret, plus any variable
    named in the workspace config (``[secrets] env = [...]``).
    """

    def __init__(self, extra_env_names: Iterable[str] = (), environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        names = {n for n in env if _SECRET_ENV_NAME.search(n)} | set(extra_env_names)
        values = sorted({env[n] for n in names if len(env.get(n, "")) >= 6}, key=len, reverse=True)
        parts = [re.escape(v) for v in values] + _PATTERNS
        self._pattern = re.compile("|".join(f"(?:{p})" for p in parts))

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def value(self, value: Any) -> Any:
        """Redact strings anywhere inside JSON-like data, and whole values under sensitive keys."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: REDACTED if isinstance(k, str) and _SENSITIVE_KEYS.match(k) else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
