"""Smoke results for CI and tools: counts, JUnit XML, JSON (the table people read is the CLI's)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sutazai.agents.smoke.runner import CaseResult


def counts(results: list[CaseResult]) -> dict[str, int]:
    out = {"passed": 0, "failed": 0, "stale": 0, "error": 0, "unavailable": 0, "skipped": 0}
    for r in results:
        out[r.status] += 1
    return out


def to_json(results: list[CaseResult]) -> dict[str, Any]:
    return {"summary": counts(results), "cases": [asdict(r) for r in results]}


def write_junit(results: list[CaseResult], path: Path) -> None:
    by_agent: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_agent[r.agent].append(r)
    root = ET.Element("testsuites", name="sutazai smoke")
    for agent, cases in by_agent.items():
        c = counts(cases)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=agent,
            tests=str(len(cases)),
            failures=str(c["failed"] + c["stale"]),
            errors=str(c["error"] + c["unavailable"]),
            skipped=str(c["skipped"]),
            time=f"{sum(r.latency_ms for r in cases) / 1000:.3f}",
        )
        for r in cases:
            name = r.case if r.sample == 0 else f"{r.case}[sample {r.sample}]"
            case = ET.SubElement(
                suite, "testcase", classname=f"smoke.{agent}", name=name, time=f"{r.latency_ms / 1000:.3f}"
            )
            if r.status in ("failed", "stale"):
                node = ET.SubElement(case, "failure", message=r.reasons[0].splitlines()[0], type=r.status)
                node.text = "\n".join(r.reasons)
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=r.reasons[0].splitlines()[0])
            elif r.status in ("error", "unavailable"):
                node = ET.SubElement(case, "error", message=r.reasons[0].splitlines()[0], type=r.status)
                node.text = "\n".join(r.reasons)
            if r.output:
                ET.SubElement(case, "system-out").text = r.output
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
