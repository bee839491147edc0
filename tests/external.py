"""The outside programs the engine's tests drive, each installed once into ``.cache/`` (git-ignored):
Aider and GPT-Engineer (their own virtual environments), the coding agents and Continue's CLI
(their own npm prefixes).

``python -m tests.external`` installs all of them ahead: ``scripts/test`` starts it as soon as the
environment is set up, its downloads beside the bytecode compile and the tests that need no engine. A test installs what is missing itself
(so any test can run alone); an install under way is waited for, not repeated (a lock per tool).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sutazai.files import locked

ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = ROOT / ".cache" / "tools"  # SUTAZAI_TOOLS_DIR for every process the suite starts
UV = TOOLS_DIR / "uv" / "bin" / "uv"  # scripts/setup's: tool environments in seconds, not minutes
CONTINUE_PREFIX = ROOT / ".cache" / "continue-cli"
TOOLS = ("aider", "gpt-engineer", "codex", "claude", "opencode")  # what the engine's tests launch


def use_cached_tools() -> None:
    """Tools are found in, and installed into, ``.cache/tools``, with scripts/setup's uv."""
    os.environ.setdefault("SUTAZAI_TOOLS_DIR", str(TOOLS_DIR))
    if UV.exists():
        os.environ.setdefault("SUTAZAI_UV", str(UV))


def continue_cli() -> Path:
    """Continue's CLI (npm ``@continuedev/cli``); raises when npm is missing or the install fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed")
    cn = CONTINUE_PREFIX / "node_modules" / ".bin" / "cn"
    CONTINUE_PREFIX.parent.mkdir(parents=True, exist_ok=True)
    with locked(CONTINUE_PREFIX.parent / ".continue-cli.lock", timeout_s=900):  # a prefetch may be at it
        if cn.exists():
            return cn
        installed = subprocess.run(
            [npm, "install", "--prefix", str(CONTINUE_PREFIX), "--no-audit", "--no-fund", "@continuedev/cli"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"installing @continuedev/cli failed: {installed.stderr[-2000:]}")
        return cn


def tool(name: str) -> Path:
    """A tool of ``sutazai tools`` (``scaffolds/tool_envs.py``), installed the way users install it."""
    from sutazai.scaffolds.tool_envs import install

    return install(name)  # waits for a prefetch under way, then finds it there


def main() -> int:
    use_cached_tools()
    jobs = {name: (tool, name) for name in TOOLS if name in ("aider", "gpt-engineer") or shutil.which("npm")}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {label: pool.submit(fn, arg) for label, (fn, arg) in jobs.items()}
        if shutil.which("npm"):
            futures["continue"] = pool.submit(continue_cli)
        failed = 0
        for label, future in futures.items():
            try:
                print(f"external: {label}: {future.result()}")
            except Exception as exc:  # the test that needs it installs it again and says why it fails
                failed += 1
                print(f"external: {label} not installed: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
