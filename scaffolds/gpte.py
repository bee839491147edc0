"""``sutazai new NAME --from-prompt``: GPT-Engineer writes an agent, taught our format by preprompts.

It runs non-interactively against the gateway in a temporary folder; the result is validated with
the spec loader and moved into ``agents/NAME`` only if valid. Otherwise nothing is written and the
report says what was wrong: the model's own answer when it held no files (not the last line the
tool happened to print, which once was git's default-branch hint). A CPU model takes minutes, so
the caller gets a progress callback every few seconds with the characters received so far.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sutazai.errors import SpecError
from sutazai.scaffolds.tool_envs import require
from sutazai.workspace import Workspace

AGENT_FILES = ("agent.yaml", "prompt.md", "tools.py", "smoke.yaml")
ROADMAP = """You write one SutazAI agent: a folder with exactly these files, nothing else:
agent.yaml, prompt.md, tools.py, smoke.yaml.

agent.yaml looks like this (keep every key, change the values):
name: {name}
description: one line saying what the agent does
kind: document            # one of: document, code, conversation, knowledge
tier: fast
prompt:
  file: prompt.md
tools: [calculator]       # built-ins: calculator, clock, word_count; or functions defined in tools.py
memory:
  enabled: false
limits:
  max_iterations: 3
  max_tokens: 96
smoke: smoke.yaml

prompt.md is the agent's system prompt in plain English.
tools.py holds plain Python functions with type hints and a one-line docstring.
smoke.yaml looks like this:
cases:
  - name: answers
    input: "a question for the agent"
    expect:
      regex: "\\\\w+"
"""
PHILOSOPHY = "Keep every file short. Use only the Python standard library in tools.py.\n"
PROGRESS_EVERY_S = 5.0
# GPT-Engineer logs the conversation as LangChain's pretty_repr: a "==== Ai Message ====" title each.
AI_MESSAGE = re.compile(r"^=+ Ai Message =+$", re.MULTILINE)
Progress = Callable[[float, int], None]  # (seconds so far, characters received from the tool)


@dataclass
class GenerationReport:
    created: Path | None
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tool_exit_code: int | None = None


def _collect(project: Path, staging: Path) -> list[str]:
    """Copy the agent files GPT-Engineer wrote (by base name; nothing from outside the project)."""
    copied = []
    for name in AGENT_FILES:
        candidates = sorted(
            p
            for p in project.rglob(name)
            if p.is_file() and "preprompts" not in p.parts and p.resolve().is_relative_to(project.resolve())
        )
        if candidates:
            shutil.copyfile(candidates[0], staging / name)
            copied.append(name)
    return copied


def generate_from_prompt(
    workspace: Workspace,
    name: str,
    description: str,
    *,
    tier: str = "quality",
    force: bool = False,
    timeout_s: float = 900,
    progress: Progress | None = None,
) -> GenerationReport:
    from sutazai.agents.loader import load_agent
    from sutazai.agents.smoke.spec import load_smoke
    from sutazai.scaffolds.generate import _place, free_destination

    destination = free_destination(workspace.agents_dir, name, force)
    executable = require("gpt-engineer")
    workspace.agents_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workspace.agents_dir, prefix=f".gpte-{name}.") as tmp:
        project = Path(tmp) / "project"
        (project / "preprompts").mkdir(parents=True)
        (project / "prompt").write_text(
            f"Write the SutazAI agent `{name}`: {description}\n", encoding="utf-8"
        )
        (project / "preprompts" / "roadmap").write_text(ROADMAP.format(name=name), encoding="utf-8")
        (project / "preprompts" / "philosophy").write_text(PHILOSOPHY, encoding="utf-8")
        url = workspace.settings.gateway.url + "/v1"
        hooks = str(Path(__file__).with_name("gpte_site"))  # offline tiktoken, no run.sh answer
        env = {
            **os.environ,
            "OPENAI_API_BASE": url,
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": "sutazai-local",
            "PYTHONPATH": hooks,
        }
        command = [str(executable), str(project), "--model", tier, "--use-custom-preprompts"]
        finished = _run_with_progress([*command, "--temperature", "0"], env, timeout_s, progress)
        if finished is None:
            return GenerationReport(
                None, problems=[f"GPT-Engineer did not finish within {timeout_s:g} s; nothing written"]
            )
        code, output = finished
        staging = Path(tmp) / name
        staging.mkdir()
        files = _collect(project, staging)
        report = GenerationReport(None, files, tool_exit_code=code)
        if "agent.yaml" not in files:
            report.problems.append("GPT-Engineer wrote no agent.yaml: " + _why_nothing(project, output, tier))
            return report
        try:
            load_agent(staging)
            if (staging / "smoke.yaml").exists():
                load_smoke(staging / "smoke.yaml")
        except SpecError as exc:
            report.problems += [p.render().replace(str(staging), f"agents/{name}") for p in exc.problems]
            return report
        _place(staging, destination, force)
        report.created = destination
        return report


def _run_with_progress(
    command: list[str], env: dict[str, str], timeout_s: float, progress: Progress | None
) -> tuple[int, str] | None:
    """Run the tool non-interactively ("no" to running the generated code and to sharing the
    prompt), reporting progress; its exit code and output, or None when it ran out of time."""
    process = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("n\n" * 8)
    process.stdin.close()
    chunks: list[str] = []
    stdout = process.stdout
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: stdout.read(256), "")), daemon=True)
    reader.start()
    started = time.monotonic()
    while True:
        try:
            code = process.wait(timeout=PROGRESS_EVERY_S)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                process.kill()
                process.wait()
                return None
            if progress is not None:
                progress(elapsed, sum(map(len, chunks)))
    reader.join(timeout=5)
    return code, "".join(chunks)


def _why_nothing(project: Path, output: str, tier: str) -> str:
    """The model's answer, as GPT-Engineer logged it, when it held no file: the real reason."""
    log = project / ".gpteng" / "memory" / "logs" / "all_output.txt"
    answer = None
    if log.is_file():
        parts = AI_MESSAGE.split(log.read_text(encoding="utf-8", errors="replace"))
        answer = parts[-1].strip() if len(parts) > 1 else None
    if answer is None:
        lines = [ln for ln in output.strip().splitlines() if ln.strip() and not ln.startswith("hint:")]
        return "the tool stopped before the model answered" + (f" ({lines[-1][:200]})" if lines else "")
    if not answer:
        return f"the model (tier {tier!r}) answered with nothing; try `--tier` with a larger model"
    shown = " ".join(answer.split())[:200]
    return (
        f"the model (tier {tier!r}) answered without files in GPT-Engineer's format "
        f"({len(answer)} characters: {shown!r}); try `--tier` with a larger model"
    )
