"""Secret redaction: nothing that looks like a credential reaches the run store, cassettes, memory,
logs or traces. One :class:`Redactor` pass serves them all, over text and over nested data (dicts,
their keys too, lists, tuples, sets, bytes)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"

# Well-known token shapes. Keep each anchored on its vendor prefix, so prose is never touched.
_PATTERNS = [
    r"sk-ant-[A-Za-z0-9_\-]{16,}",  # Anthropic
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",  # OpenAI
    r"github_pat_[A-Za-z0-9_]{22,}",  # GitHub fine-grained
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub classic
    r"glpat-[A-Za-z0-9_\-]{20,}",  # GitLab
    r"xox[abpre]-[A-Za-z0-9\-]{10,}",  # Slack
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key ids
    r"(?i:aws_secret_access_key|secret_access_key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}",
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",  # Stripe
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"[Bb]earer\s+[A-Za-z0-9._~+/\-]{12,}=*",  # Authorization headers
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",  # passwords in URLs: scheme://user:password@host
]
_SECRET_ENV_NAME = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)")
_SENSITIVE_KEYS = re.compile(
    r"(?i)^(authorization|proxy-authorization|api[_-]?key|x-api-key|x-sutazai-token|password|passwd|secret"
    r"|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|cookie|set-cookie)$"
)


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
        """Redact strings anywhere inside nested data, keys included, and whole values under
        sensitive keys. Bytes are redacted as UTF-8 text (and stay bytes); sets become lists."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace")).encode("utf-8")
        if isinstance(value, dict):
            return {
                self.value(k): REDACTED if isinstance(k, str) and _SENSITIVE_KEYS.match(k) else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        return value
