"""Put on PYTHONPATH for GPT-Engineer only (``scaffolds/gpte.py``), to fit it to the hook:

- tiktoken fetches its BPE tables from the network on first use, and GPT-Engineer needs them just
  to count tokens. Offline, count words instead.
- After writing the code, GPT-Engineer asks the model for a second answer, ``run.sh`` (install and
  run the codebase), then offers to execute it. An agent runs with ``sutazai run`` and the hook
  keeps only the agent's files, so that answer (on a CPU model, as long as the first) is skipped:
  a fixed ``run.sh`` stands in, and the offer to run it is declined as before.

Each patch is applied only where the names it replaces exist; otherwise GPT-Engineer runs as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RUN_SH = "# a SutazAI agent runs with `sutazai run NAME`: nothing to install or start here\n"


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


def _fixed_entrypoint(*args: Any, **kwargs: Any) -> Any:
    from gpt_engineer.core.default.steps import ENTRYPOINT_FILE
    from gpt_engineer.core.files_dict import FilesDict

    return FilesDict({ENTRYPOINT_FILE: RUN_SH})


try:
    import tiktoken

    tiktoken.get_encoding = _safe(tiktoken.get_encoding)
    tiktoken.encoding_for_model = _safe(tiktoken.encoding_for_model)
except ImportError:
    pass

try:
    from gpt_engineer.applications.cli import cli_agent

    if callable(getattr(cli_agent, "gen_entrypoint", None)):
        cli_agent.gen_entrypoint = _fixed_entrypoint
except ImportError:
    pass
