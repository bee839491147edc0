"""The import-linter contracts in pyproject.toml catch the mistakes they name: each is broken on
purpose in a package laid out like ours, and ``lint-imports`` must say so."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted(p.stem for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")
MODULES = [
    *CORE,
    "agents/runtime",
    "agents/session",
    "agents/delegation",
    "agents/loader",
    *(f"agents/smoke/{m}" for m in ("spec", "runner", "cassette", "expectations", "from_run", "report")),
    *(f"stack/{m}" for m in ("embedded", "xllamacpp_server", "supervisor", "control", "services")),
    "stack/docker_stack",
    "stack/gateway/service",
    "scaffolds/generate",
    "lsp/server",
]
# The front ends import what they are allowed to: the libraries are in the graph, as in ours.
FRONT_END = "import rich\nimport textual\nimport typer\nimport sutazai.agents.runtime\n"


def _package(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for folder in ("", "agents", "agents/smoke", "stack", "stack/gateway", "scaffolds", "lsp", "workbench"):
        (root / "sutazai" / folder).mkdir(parents=True, exist_ok=True)
        (root / "sutazai" / folder / "__init__.py").write_text("")
    for module in MODULES:
        (root / "sutazai" / f"{module}.py").write_text("")
    (root / "sutazai" / "workbench" / "app.py").write_text(FRONT_END)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = [f"[importlinter]\nroot_package = {config['root_package']}"]
    lines.append(f"include_external_packages = {config['include_external_packages']}")
    for i, contract in enumerate(config["contracts"]):
        lines.append(f"\n[importlinter:contract:{i}]")
        for key, value in contract.items():
            value = "\n    ".join(["", *value]) if isinstance(value, list) else value
            lines.append(f"{key} = {value}")
    (tmp_path / ".importlinter").write_text("\n".join(lines) + "\n")
    return root


def _lint(tmp_path: Path, root: Path) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--config", str(tmp_path / ".importlinter")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )
    return result.stdout + result.stderr


def test_the_contracts_hold_on_a_clean_package(tmp_path: Path) -> None:
    out = _lint(tmp_path, _package(tmp_path))
    assert "BROKEN" not in out and f"{4} kept, 0 broken" in out, out


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("newcore.py", "", "Lower layers never import upper ones"),  # a core module nobody placed
        ("config.py", "import sutazai.agents.runtime\n", "Lower layers never import upper ones"),
        ("agents/runtime.py", "import sutazai.agents.smoke.cassette\n", "The runtime never imports"),
        ("stack/gateway/core.py", "import sutazai.stack.embedded\n", "The gateway never imports"),
        ("agents/loader.py", "import rich\n", "Terminal and editor libraries only"),
    ],
)
def test_a_contract_broken_on_purpose_fails(tmp_path: Path, module: str, source: str, contract: str) -> None:
    root = _package(tmp_path)
    (root / "sutazai" / module).write_text(source)
    out = " ".join(_lint(tmp_path, root).split())
    assert f"{contract}" in out and "1 broken" in out, out
    broken = out.split("Broken contracts", 1)[1]
    assert contract in broken, out
