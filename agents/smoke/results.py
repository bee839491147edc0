"""Smoke results as a file (``sutazai smoke --out FILE``) and their comparison
(``sutazai smoke compare BASE HEAD``).

The file holds every sample of every case with its verdict, tokens and latency, and the content
hash of each agent and case, so two files say which cases changed and how their pass rates moved.
A file of another format version or another workspace is refused with the reason.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sutazai.agents.exchange_keys import digest
from sutazai.agents.loader import AgentCatalog, AgentDefinition
from sutazai.agents.smoke.cassette import agent_fingerprint
from sutazai.agents.smoke.runner import AgentSuite, CaseResult
from sutazai.agents.smoke.verdicts import COUNTED, CaseChange, CaseSummary, compare_case
from sutazai.errors import Problem, UserError
from sutazai.files import atomic_write

FORMAT = "sutazai-smoke-results"
VERSION = 1


def summarize(results: list[CaseResult], k: int | None = None) -> list[CaseSummary]:
    """One summary per case, in the order the cases first appear; ``k`` defaults to the samples."""
    by_case: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        by_case[(r.agent, r.case)].append(r)
    out = []
    for (agent, case), samples in by_case.items():
        ran = [s for s in samples if s.status in COUNTED]
        passed = sum(s.status == "passed" for s in ran)
        out.append(CaseSummary(agent, case, passed, len(ran), min(k or len(ran), len(ran)) or 1))
    return out


def agent_hash(
    agent: AgentDefinition, catalog: AgentCatalog, tiers: dict[str, Any], seen: frozenset[str] = frozenset()
) -> str:
    """What an agent's answers depend on: its files, the model its tier resolves to, and the same of
    every agent it delegates to (so a change to fact-finder changes planner's hash too)."""
    delegates = []
    for name in agent.spec.local_delegates:
        if name in seen or name not in catalog.agents:
            delegates.append([name, None])  # a cycle or a broken delegate: its name is what is known
            continue
        delegates.append([name, agent_hash(catalog.agents[name], catalog, tiers, seen | {agent.name})])
    model = tiers.get(agent.spec.model_ref, agent.spec.model_ref)
    return digest([agent_fingerprint(agent), model, delegates])


def case_hashes(
    suites: list[AgentSuite], catalog: AgentCatalog, tiers: dict[str, Any]
) -> dict[tuple[str, str], str]:
    out = {}
    for suite in suites:
        base = agent_hash(suite.agent, catalog, tiers)
        for case in suite.cases:
            out[(suite.agent.name, case.name)] = digest([base, case.model_dump(exclude={"tags"})])
    return out


def changed_only(
    suites: list[AgentSuite], hashes: dict[tuple[str, str], str], base: ResultsFile
) -> list[AgentSuite]:
    """The suites cut to the cases whose hash differs from the base results' (new cases included)."""
    before = base.hashes()
    kept = []
    for suite in suites:
        cases = [
            c
            for c in suite.cases
            if before.get((suite.agent.name, c.name)) != hashes[(suite.agent.name, c.name)]
        ]
        if cases:
            kept.append(AgentSuite(suite.agent, suite.smoke, cases))
    return kept


def document(
    root: Path,
    suites: list[AgentSuite],
    results: list[CaseResult],
    mode: str,
    samples: int,
    hashes: dict[tuple[str, str], str],
) -> dict[str, Any]:
    by_case: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(results, key=lambda r: r.sample):
        by_case[(r.agent, r.case)].append(asdict(r))
    return {
        "format": FORMAT,
        "version": VERSION,
        "workspace": str(root),
        "mode": mode,
        "samples": samples,
        "created_at": time.time(),
        "agents": {s.agent.name: agent_fingerprint(s.agent) for s in suites},
        "cases": [
            {"agent": agent, "case": case, "hash": hashes.get((agent, case)), "samples": items}
            for (agent, case), items in by_case.items()
        ],
    }


def merge(parts: list[ResultsFile]) -> dict[str, Any]:
    """One results document from several (xdist workers, CI shards) of one workspace, mode and
    sample count: their cases side by side; a case run by more than one keeps all its samples."""
    if not parts:
        raise UserError(Problem("nothing to merge: give at least one results file"))
    first = parts[0].data
    for part in parts[1:]:
        for field in ("workspace", "mode", "samples"):
            if part.data.get(field) != first.get(field):
                raise UserError(
                    Problem(
                        f"results of another {field} ({part.data.get(field)}, not {first.get(field)})",
                        part.path,
                        hint="merge the shards of one run",
                    )
                )
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    for part in parts:
        for case in part.data["cases"]:
            key = (case["agent"], case["case"])
            if key in cases:
                cases[key]["samples"] = [*cases[key]["samples"], *case["samples"]]
            else:
                cases[key] = dict(case)
    agents = {name: print_ for part in parts for name, print_ in (part.data.get("agents") or {}).items()}
    return {**first, "agents": agents, "cases": list(cases.values()), "created_at": time.time()}


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"), mode=0o644)


@dataclass(frozen=True)
class ResultsFile:
    path: Path
    data: dict[str, Any]

    @property
    def workspace(self) -> str:
        return str(self.data.get("workspace"))

    def results(self) -> list[CaseResult]:
        return [CaseResult(**sample) for case in self.data["cases"] for sample in case["samples"]]

    @property
    def agents_run(self) -> set[str]:
        return set(self.data.get("agents") or {})

    def hashes(self) -> dict[tuple[str, str], str | None]:
        return {(c["agent"], c["case"]): c.get("hash") for c in self.data["cases"]}


def load(path: Path, workspace: Path | None = None) -> ResultsFile:
    """A results file, or a UserError that says why it cannot be used here."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(Problem(f"cannot read smoke results: {exc.strerror}", path)) from None
    except ValueError as exc:
        raise UserError(Problem(f"not a smoke results file (not JSON: {exc})", path)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(
            Problem("not a smoke results file", path, hint="write one with `sutazai smoke --out FILE`")
        )
    if data.get("version") != VERSION:
        raise UserError(
            Problem(
                f"smoke results of format version {data.get('version')}; this SutazAI reads {VERSION}",
                path,
                hint="produce both files with the same SutazAI version",
            )
        )
    if workspace is not None and data.get("workspace") != str(workspace):
        raise UserError(
            Problem(
                f"these results are of another workspace ({data.get('workspace')}), not {workspace}",
                path,
                hint="compare results of one workspace, or pass --workspace",
            )
        )
    try:
        loaded = ResultsFile(path, data)
        loaded.results()
    except (KeyError, TypeError) as exc:
        raise UserError(Problem(f"smoke results file is damaged ({exc})", path)) from None
    return loaded


def compare(base: ResultsFile, head: ResultsFile, level: float = 0.05) -> list[CaseChange]:
    if base.workspace != head.workspace:
        raise UserError(
            Problem(
                f"the two files are of different workspaces: {base.workspace} and {head.workspace}",
                head.path,
            )
        )
    k = max(int(base.data.get("samples", 1)), int(head.data.get("samples", 1)))
    before = {(s.agent, s.case): s for s in summarize(base.results(), k)}
    after = {(s.agent, s.case): s for s in summarize(head.results(), k)}
    keys = list(before) + [key for key in after if key not in before]
    # A case missing on one side is "not run" when that side did not run its agent at all.
    return [
        compare_case(
            before.get(key),
            after.get(key),
            level,
            ran=key[0] in (head if key in before else base).agents_run,
        )
        for key in keys
    ]
