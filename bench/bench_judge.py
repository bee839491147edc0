"""How far can a smoke `judge` be trusted? The labelled set (`bench/data/judge_set.jsonl`: 48 answers,
half good, half bad, six kinds of rubric) graded by the product's judge (`runner.judge`: the rubric,
a JSON score held by the engine's grammar, pass at `min_score` 3) through the gateway, against each
label. Printed side by side: agreement and Cohen's kappa (agreement beyond chance), the confusion
matrix, per kind; the controls: the majority class (what always saying "pass" would score), the
same judge with every answer swapped for another item's (a judge that reads the answer fails
nearly all of these), and the judge's earlier free-text form (a digit searched for in prose).
Answers the judge gave no score for are counted apart, never as a verdict.

    .venv/bin/python -m bench.bench_judge                      # the embedded SmolLM2, own stack
    .venv/bin/python -m bench.bench_judge --workspace WS --model quality   # WS's running gateway

With `--workspace`, the judge is whatever the workspace's tier names: a larger model behind a real
Ollama (`[[stack.engines]]` kind "ollama", `[tiers] quality = ["llama3.1:8b"]`) is graded the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

SET = Path(__file__).parent / "data" / "judge_set.jsonl"
SUTAZAI = str(Path(sys.executable).parent / "sutazai")
FREE_PROMPT = (  # the judge before it was held to JSON: a digit searched for in whatever came back
    "You grade an assistant's answer against a rubric. Reply with one digit from 1 (fails the rubric) "
    "to 5 (fully meets it) and nothing else.\n\nRubric: {rubric}\n\nQuestion: {question}\n\nAnswer: {answer}"
)


def kappa(pairs: list[tuple[bool, bool]]) -> float:
    """Cohen's kappa of (label, verdict) pairs: 1 is full agreement, 0 what chance gives."""
    n = len(pairs)
    if not n:
        return 0.0
    observed = sum(a == b for a, b in pairs) / n
    yes_a, yes_b = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    expected = yes_a * yes_b + (1 - yes_a) * (1 - yes_b)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


async def grade(root: Path, model: str, items: list[dict[str, Any]], mode: str, parallel: int) -> list[int]:
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.smoke.runner import judge
    from sutazai.agents.smoke.spec import JudgeExpectation
    from sutazai.workspace import Workspace

    gate = asyncio.Semaphore(parallel)

    async def one(client: GatewayClient, item: dict[str, Any]) -> int:
        async with gate:
            if mode != "free":
                expectation = JudgeExpectation(rubric=item["rubric"], model=model)
                return await judge(client, expectation, item["question"], item["answer"], "bench")
            prompt = FREE_PROMPT.format(**item)
            text = ""
            async for chunk in client.chat_stream(
                [{"role": "user", "content": prompt}], model, max_tokens=4, temperature=0,
                agent="bench-judge", priority="batch",
            ):  # fmt: skip
                text += chunk.content
            found = re.search(r"[1-5]", text)
            return int(found.group()) if found else 0

    async with GatewayClient.for_workspace(Workspace(root)) as client:
        return list(await asyncio.gather(*(one(client, item) for item in items)))


def report(name: str, items: list[dict[str, Any]], scores: list[int], expect_pass: list[bool]) -> None:
    scored = [(want, s >= 3) for want, s in zip(expect_pass, scores, strict=True) if s]
    unscored = sum(not s for s in scores)
    agree = sum(a == b for a, b in scored)
    matrix = Counter((a, b) for a, b in scored)
    print(
        f"{name:<34} agreement {agree}/{len(scored)} ({agree / max(len(scored), 1):.0%})  "
        f"kappa {kappa(scored):+.2f}  pass->pass {matrix[(True, True)]}  pass->fail {matrix[(True, False)]}  "
        f"fail->pass {matrix[(False, True)]}  fail->fail {matrix[(False, False)]}  no score {unscored}  "
        f"scores {dict(sorted(Counter(scores).items()))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", type=Path, help="use this workspace's running gateway")
    parser.add_argument("--model", default="quality", help="tier or model that judges")
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    items = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    labels = [i["label"] == "pass" for i in items]
    swapped = [{**item, "answer": items[(k + 7) % len(items)]["answer"]} for k, item in enumerate(items)]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workspace
        if root is None:
            from sutazai.scaffolds.generate import init_workspace

            root = init_workspace(Path(tmp) / "ws")
            subprocess.run([SUTAZAI, "stack", "up", "--detach"], cwd=root, check=True, capture_output=True)
        try:
            asyncio.run(grade(root, args.model, items[:4], "json", args.parallel))  # warm up
            results = {
                "judge (JSON score)": (items, asyncio.run(grade(root, args.model, items, "json", args.parallel)), labels),
                "control: answers swapped": (swapped, asyncio.run(grade(root, args.model, swapped, "json", args.parallel)), [False] * len(items)),
                "control: free-text digit": (items, asyncio.run(grade(root, args.model, items, "free", args.parallel)), labels),
            }  # fmt: skip
        finally:
            if args.workspace is None:
                subprocess.run([SUTAZAI, "stack", "down"], cwd=root, capture_output=True)
    print(
        f"{len(items)} labelled answers ({sum(labels)} pass, {len(items) - sum(labels)} fail), judge {args.model!r}"
    )
    print(
        f"{'control: majority class':<34} agreement {max(sum(labels), len(labels) - sum(labels))}/{len(labels)}  kappa +0.00"
    )
    for name, (graded, scores, want) in results.items():
        report(name, graded, scores, want)
    print("\nper kind (judge, JSON score):")
    _, scores, _ = results["judge (JSON score)"]
    for kind in dict.fromkeys(i["kind"] for i in items):
        picked = [k for k, i in enumerate(items) if i["kind"] == kind]
        report(
            f"  {kind}", [items[k] for k in picked], [scores[k] for k in picked], [labels[k] for k in picked]
        )


if __name__ == "__main__":
    main()
