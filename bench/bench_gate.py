"""Does the smoke gate tell a harmful change from a neutral one? On the demo workspace and the
embedded SmolLM2: for each of 10 harmful and 10 neutral changes to one agent, run that agent's
cases N times, `sutazai smoke compare` against the unchanged base, and count how often the gate
flags (exit 1). Reports detection rate, false-alarm rate and wall time at each N, the N rounds
interleaved; errors (a run that is not a pass or a fail) are counted and printed. Beside each wall
time, what `sutazai plan` predicts for that load (the run's samples, their mean prompt and answer
tokens, 8 at a time): the plan's throughput at saturation, reference speeds, no calibration.

    .venv/bin/python -m bench.bench_gate [--samples 3,5,10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SUTAZAI = str(Path(sys.executable).parent / "sutazai")
Edit = Callable[[Path], None]


def _replace(file: str, old: str, new: str) -> Edit:
    def edit(agent: Path) -> None:
        path = agent / file
        text = path.read_text()
        if old not in text:
            raise RuntimeError(f"{path}: {old!r} not found: the change would be a no-op")
        path.write_text(text.replace(old, new, 1))

    return edit


def _prompt(text: str) -> Edit:
    def edit(agent: Path) -> None:
        (agent / "prompt.md").write_text(text + "\n")

    return edit


def _append_prompt(text: str) -> Edit:
    def edit(agent: Path) -> None:
        path = agent / "prompt.md"
        path.write_text(path.read_text().rstrip() + " " + text + "\n")

    return edit


@dataclass(frozen=True)
class Change:
    name: str
    agent: str
    harmful: bool
    edit: Edit


CHANGES = [
    # Harmful: each breaks what the agent is for (its cases say what that is).
    Change(
        "summarizer answers 4 tokens",
        "summarizer",
        True,
        _replace("agent.yaml", "max_tokens: 96", "max_tokens: 4"),
    ),
    Change(
        "summarizer prompt: banana",
        "summarizer",
        True,
        _prompt("Whatever the user writes, reply with exactly one word: banana"),
    ),
    Change(
        "fact-finder answers 2 tokens",
        "fact-finder",
        True,
        _replace("agent.yaml", "max_tokens: 96", "max_tokens: 2"),
    ),
    Change(
        "fact-finder prompt: always London",
        "fact-finder",
        True,
        _prompt("You answer every question with the single word: London."),
    ),
    Change(
        "code-helper answers 6 tokens",
        "code-helper",
        True,
        _replace("agent.yaml", "max_tokens: 96", "max_tokens: 6"),
    ),
    Change(
        "code-helper prompt: no code", "code-helper", True, _prompt("Never write code. Answer in one word.")
    ),
    Change(
        "planner loses fact-finder",
        "planner",
        True,
        _replace("agent.yaml", "delegates: [fact-finder, summarizer]", "delegates: [summarizer]"),
    ),
    Change(
        "planner stops delegating first",
        "planner",
        True,
        _replace("agent.yaml", "tool_choice: required", "tool_choice: auto"),
    ),
    Change(
        "chat-buddy answers 1 token",
        "chat-buddy",
        True,
        _replace("agent.yaml", "max_tokens: 96", "max_tokens: 1"),
    ),
    Change(
        "fact-finder must call a tool first",
        "fact-finder",
        True,
        _replace("agent.yaml", "tools: [clock, define]", "tools: [clock, define]\ntool_choice: required"),
    ),
    # Neutral: rewording, reordering, settings the answers do not depend on.
    Change(
        "summarizer description reworded",
        "summarizer",
        False,
        _replace("agent.yaml", "Summarises documents", "Writes short summaries of documents"),
    ),
    Change(
        "fact-finder description reworded",
        "fact-finder",
        False,
        _replace("agent.yaml", "Answers questions", "Replies to questions"),
    ),
    Change(
        "code-helper description reworded",
        "code-helper",
        False,
        _replace("agent.yaml", "Explains and writes", "Writes and explains"),
    ),
    Change(
        "planner description reworded",
        "planner",
        False,
        _replace("agent.yaml", "Plans an answer", "Works out an answer"),
    ),
    Change(
        "chat-buddy description reworded", "chat-buddy", False, _replace("agent.yaml", "A friendly", "A kind")
    ),
    Change(
        "summarizer tools reordered",
        "summarizer",
        False,
        _replace("agent.yaml", "tools: [word_count, first_sentence]", "tools: [first_sentence, word_count]"),
    ),
    Change(
        "fact-finder timeout raised",
        "fact-finder",
        False,
        _replace("agent.yaml", "timeout_s: 120", "timeout_s: 150"),
    ),
    Change("code-helper prompt: be brief", "code-helper", False, _append_prompt("Be brief.")),
    Change("summarizer prompt: plain words", "summarizer", False, _append_prompt("Use plain words.")),
    Change(
        "fact-finder iterations raised",
        "fact-finder",
        False,
        _replace("agent.yaml", "max_iterations: 3", "max_iterations: 4"),
    ),
]


def smoke(root: Path, agent: str, samples: int, out: Path) -> tuple[float, int]:
    """Wall seconds of one smoke run, and the samples that ended neither passed nor failed."""
    t0 = time.perf_counter()
    subprocess.run(
        [SUTAZAI, "smoke", agent, "-n", str(samples), "--parallel", "8", "--out", str(out), "--json"],
        cwd=root, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    data = json.loads(out.read_text())
    errors = sum(s["status"] not in ("passed", "failed") for c in data["cases"] for s in c["samples"])
    return wall, errors


def planned_s(root: Path, out: Path) -> float:
    """The seconds `sutazai plan` predicts for the samples in ``out``: their answer tokens at the
    throughput it predicts for 8 agents always asking (the runner's --parallel)."""
    samples = [s for c in json.loads(out.read_text())["cases"] for s in c["samples"]]
    if not samples:
        return 0.0
    prompt = max(1, round(sum(s["prompt_tokens"] for s in samples) / len(samples)))
    output = max(1, round(sum(s["completion_tokens"] for s in samples) / len(samples)))
    plan = subprocess.run(
        [SUTAZAI, "plan", "--agents", "8", "--rpm", "600", "--prompt-tokens", str(prompt),
         "--output-tokens", str(output), "--json"],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return len(samples) * output / json.loads(plan.stdout)["throughput_tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", default="3,5,10")
    args = parser.parse_args()
    sizes = [int(n) for n in args.samples.split(",")]
    from sutazai.scaffolds.generate import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws", demo=True)
        subprocess.run([SUTAZAI, "stack", "up", "--detach"], cwd=root, check=True, capture_output=True)
        try:
            agents = sorted({c.agent for c in CHANGES})
            subprocess.run([SUTAZAI, "run", "summarizer", "warm up"], cwd=root, capture_output=True)
            flagged: dict[int, dict[str, bool]] = {n: {} for n in sizes}
            walls: dict[int, list[float]] = {n: [] for n in sizes}
            plans: dict[int, list[float]] = {n: [] for n in sizes}
            errors = {n: 0 for n in sizes}
            for n in sizes:  # one base per N and agent, from the unchanged workspace
                for agent in agents:
                    wall, bad = smoke(root, agent, n, Path(tmp) / f"base-{agent}-{n}.json")
                    errors[n] += bad
            for change in CHANGES:
                folder = root / "agents" / change.agent
                saved = {p.name: p.read_text() for p in folder.iterdir() if p.is_file()}
                try:
                    change.edit(folder)
                    for n in sizes:  # interleaved: the machine's drift hits every N alike
                        head = Path(tmp) / f"head-{n}.json"
                        wall, bad = smoke(root, change.agent, n, head)
                        walls[n].append(wall)
                        plans[n].append(planned_s(root, head))
                        errors[n] += bad
                        base = Path(tmp) / f"base-{change.agent}-{n}.json"
                        verdict = subprocess.run(
                            [SUTAZAI, "smoke", "compare", str(base), str(head)], cwd=root, capture_output=True
                        )
                        flagged[n][change.name] = verdict.returncode == 1
                        print(f"N={n:>2} {'harmful' if change.harmful else 'neutral'} {change.name}: "
                              f"{'FLAGGED' if verdict.returncode == 1 else 'passed'} ({wall:.0f} s, "
                              f"plan {plans[n][-1]:.0f} s)", flush=True)  # fmt: skip
                finally:
                    for name, text in saved.items():
                        (folder / name).write_text(text)
        finally:
            subprocess.run([SUTAZAI, "stack", "down"], cwd=root, capture_output=True)
        harmful = [c.name for c in CHANGES if c.harmful]
        neutral = [c.name for c in CHANGES if not c.harmful]
        for n in sizes:
            caught = sum(flagged[n][c] for c in harmful)
            alarms = sum(flagged[n][c] for c in neutral)
            wall = sorted(walls[n])
            plan = sorted(plans[n])
            print(
                f"N={n:>2}: harmful flagged {caught}/{len(harmful)} ({caught / len(harmful):.0%}), "
                f"false alarms {alarms}/{len(neutral)} ({alarms / len(neutral):.0%}); one agent's cases "
                f"x{n}: median {wall[len(wall) // 2]:.0f} s (range {wall[0]:.0f}-{wall[-1]:.0f}), "
                f"plan predicts {plan[len(plan) // 2]:.0f} s ({plan[0]:.0f}-{plan[-1]:.0f}); "
                f"samples in error {errors[n]}"
            )
        missed = {n: [c for c in harmful if not flagged[n][c]] for n in sizes}
        print("missed harmful changes:", json.dumps(missed, indent=1))


if __name__ == "__main__":
    main()
