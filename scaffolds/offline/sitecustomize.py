"""Put on PYTHONPATH for GPT-Engineer only: tiktoken fetches its BPE tables from the network on
first use, and GPT-Engineer needs them just to count tokens. Offline, count words instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _WordCount:
    name = "offline-words"

    def encode(self, text: str, **kwargs: Any) -> list[str]:
        return text.split()


def _safe(factory: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return factory(*args, **kwargs)
        except Exception:
            return _WordCount()

    return wrapper


try:
    import tiktoken

    tiktoken.get_encoding = _safe(tiktoken.get_encoding)
    tiktoken.encoding_for_model = _safe(tiktoken.encoding_for_model)
except ImportError:
    pass
