"""``sutazai new NAME --from-prompt``: GPT-Engineer writes an agent, taught our format by preprompts.

It runs non-interactively against the gateway in a temporary folder; the result is validated with
the spec loader and moved into ``agents/NAME`` only if valid. Otherwise nothing is written and the
report says what was wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
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
        offline = str(Path(__file__).with_name("offline"))  # tiktoken without the network
        env = {
            **os.environ,
            "OPENAI_API_BASE": url,
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": "sutazai-local",
            "PYTHONPATH": offline,
        }
        try:
            result = subprocess.run(
                [
                    str(executable),
                    str(project),
                    "--model",
                    tier,
                    "--use-custom-preprompts",
                    "--temperature",
                    "0",
                ],
                # Non-interactive: "no" to running the generated code and to sharing the prompt.
                env=env,
                input="n\n" * 8,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return GenerationReport(
                None, problems=[f"GPT-Engineer did not finish within {timeout_s:g} s; nothing written"]
            )
        staging = Path(tmp) / name
        staging.mkdir()
        files = _collect(project, staging)
        report = GenerationReport(None, files, tool_exit_code=result.returncode)
        if "agent.yaml" not in files:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            report.problems.append(
                "GPT-Engineer wrote no agent.yaml" + (f" ({' / '.join(tail)})" if tail else "")
            )
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
