"""Running smoke cases: live through the gateway (at ``batch`` priority), recording, or replaying.

A case runs ``samples`` times (seeds varied: the spec's seed, or 0, plus the sample's index), so a
verdict on an agent that samples rests on a pass rate, not on one draw (``smoke/verdicts.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentCatalog, AgentDefinition
from sutazai.agents.runstore import RunStore
from sutazai.agents.runtime import AgentRuntime
from sutazai.agents.session import run_to_end
from sutazai.agents.smoke.cassette import (
    Cassette,
    RecordingClient,
    ReplayClient,
    agent_fingerprint,
    cassette_path,
)
from sutazai.agents.smoke.expectations import Outcome, check
from sutazai.agents.smoke.spec import JudgeExpectation, SmokeCase, SmokeFile, load_smoke
from sutazai.errors import GatewayUnavailable, Problem, SpecError, UserError
from sutazai.redact import Redactor
from sutazai.workspace import Workspace

Mode = Literal["live", "record", "replay"]
Status = Literal["passed", "failed", "stale", "error", "unavailable", "skipped"]


@dataclass
class CaseResult:
    agent: str
    case: str
    tags: list[str]
    status: Status
    reasons: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    output: str = ""
    run_id: str | None = None
    sample: int = 0
    trajectory: dict[str, list[str]] = field(default_factory=dict)  # per agent of the run's tree


@dataclass
class AgentSuite:
    agent: AgentDefinition
    smoke: SmokeFile
    cases: list[SmokeCase]


def collect(
    workspace: Workspace,
    names: list[str] | None = None,
    tags: list[str] | None = None,
    catalog: AgentCatalog | None = None,
) -> list[AgentSuite]:
    """The agents' smoke files, validated, filtered by name and tag. Broken files raise SpecError."""
    catalog = catalog or AgentCatalog.scan(workspace)
    wanted = names or sorted(set(catalog.agents) | set(catalog.broken))
    suites: list[AgentSuite] = []
    for name in wanted:
        agent = catalog.get(name)
        if not agent.spec.smoke:
            continue
        path = agent.folder / agent.spec.smoke
        if not path.exists():
            if names:
                raise SpecError(Problem(f"{name} has no smoke file {agent.spec.smoke}", agent.spec_file))
            continue
        smoke = load_smoke(path)
        cases = [c for c in smoke.cases if not tags or set(tags) & set(c.tags)]
        if cases:
            suites.append(AgentSuite(agent, smoke, cases))
    return suites


JUDGE_PROMPT = (
    "You grade an assistant's answer against a rubric. Score it from 1 (fails the rubric) to 5 (fully "
    'meets it). Reply with JSON only: {{"score": N}}.\n\nRubric: {rubric}\n\nQuestion: {question}\n\n'
    "Answer: {answer}"
)
# The engine's grammar holds the judge to this shape (llama.cpp, vLLM; Ollama's `format`): a small
# model cannot wander off into prose, and the score is read, not searched for.
JUDGE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "grade",
        "schema": {
            "type": "object",
            "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
            "required": ["score"],
            "additionalProperties": False,
        },
    },
}


def judge_score(text: str) -> int:
    """The judge's score from its answer (0 when it gave none): the JSON it was held to, or, from an
    engine that ignores the schema, the first digit 1-5."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        score = json.loads(text).get("score")
        if isinstance(score, int) and 1 <= score <= 5:
            return score
    match = re.search(r"[1-5]", text)
    return int(match.group()) if match else 0


async def judge(
    client: GatewayClient, judge: JudgeExpectation, question: str, answer: str, agent: str
) -> int:
    """A rubric graded by ``judge.model`` through the gateway, at temperature 0 and batch priority."""
    prompt = JUDGE_PROMPT.format(rubric=judge.rubric, question=question, answer=answer)
    text = ""
    async for chunk in client.chat_stream(
        [{"role": "user", "content": prompt}],
        judge.model,
        max_tokens=24,  # room for the whitespace a JSON grammar allows
        temperature=0,
        agent=f"{agent}-judge",
        priority="batch",
        response_format=JUDGE_FORMAT,
    ):
        text += chunk.content
    return judge_score(text)


async def _similarity(client: GatewayClient, reference: str, answer: str, model: str, agent: str) -> float:
    """Cosine similarity of the two texts' embeddings (0 for an empty answer)."""
    if not answer.strip():
        return 0.0
    first, second = await client.embed([reference, answer], model, agent=f"{agent}-smoke")
    norm = math.sqrt(sum(x * x for x in first)) * math.sqrt(sum(y * y for y in second))
    return sum(x * y for x, y in zip(first, second, strict=True)) / norm if norm else 0.0


class SmokeRunner:
    def __init__(
        self, workspace: Workspace, mode: Mode = "live", parallel: int = 4, samples: int = 1
    ) -> None:
        if samples < 1:
            raise UserError(Problem(f"--samples must be 1 or more, not {samples}"))
        self.workspace = workspace
        self.mode = mode
        self.parallel = max(1, parallel)
        self.samples = samples
        settings = workspace.settings
        redactor = Redactor(settings.secrets.env)
        # Replays are not runs of the agent: they go to a throw-away store.
        self.store = RunStore(None if mode == "replay" else workspace.runs_db, redactor)
        self._cassettes: dict[str, Cassette | None] = {}
        self._fingerprints: dict[str, str] = {}

    async def run(
        self, suites: list[AgentSuite], on_result: Callable[[CaseResult], None] | None = None
    ) -> list[CaseResult]:
        semaphore = asyncio.Semaphore(self.parallel)

        async def one(agent: AgentDefinition, case: SmokeCase, sample: int) -> CaseResult:
            async with semaphore:
                result = await self.run_case(agent, case, save=False, sample=sample)
            if on_result:
                on_result(result)
            return result

        results = await asyncio.gather(
            *(one(s.agent, c, i) for s in suites for c in s.cases for i in range(self.samples))
        )
        self.save_cassettes()
        self.keep_latest(list(results))
        return list(results)

    async def run_case(
        self, agent: AgentDefinition, case: SmokeCase, save: bool = True, sample: int = 0
    ) -> CaseResult:
        """One sample of a case in this runner's mode; with ``save``, a recording is written at once."""
        cassette = self.cassette_for(agent)
        result = await self._case(agent, case, cassette, sample)
        if save:
            self.save_cassettes()
        return result

    def keep_latest(self, results: list[CaseResult]) -> None:
        """Live and recorded verdicts become each case's latest (:mod:`.latest`); a replay
        reproduces old answers and touches no folder. Give every sample of a case at once (a case's
        entry is replaced by what is given)."""
        if self.mode != "replay":
            from sutazai.agents.smoke import latest

            latest.record(self.workspace, results)

    def save_cassettes(self) -> None:
        if self.mode == "record":
            for cassette in self._cassettes.values():
                if cassette is not None:
                    cassette.save()

    def cassette_for(self, agent: AgentDefinition) -> Cassette | None:
        if agent.name not in self._cassettes:
            self._cassettes[agent.name] = self._cassette(agent)
        return self._cassettes[agent.name]

    def _fingerprint(self, agent: AgentDefinition) -> str:
        """Once per agent and run of the harness (it reads tools.py and hashes the spec), not once
        per sample."""
        if agent.name not in self._fingerprints:
            self._fingerprints[agent.name] = agent_fingerprint(agent)
        return self._fingerprints[agent.name]

    def _cassette(self, agent: AgentDefinition) -> Cassette | None:
        path = cassette_path(agent)
        if self.mode == "record":
            existing = Cassette.load(path)
            fingerprint = self._fingerprint(agent)
            keep = existing.cases if existing and existing.fingerprint == fingerprint else {}
            return Cassette(path, fingerprint, keep, Redactor(self.workspace.settings.secrets.env))
        if self.mode == "replay":
            return Cassette.load(path)
        return None

    def _client(
        self, agent: AgentDefinition, case: SmokeCase, cassette: Cassette | None, sample: int
    ) -> GatewayClient | CaseResult:
        """The client for this sample, or the result that says why it cannot run."""

        def cannot(status: Status, reason: str) -> CaseResult:
            return CaseResult(agent.name, case.name, case.tags, status, [reason], sample=sample)

        if self.mode == "live":
            return GatewayClient.for_workspace(self.workspace)
        if self.mode == "record":
            return RecordingClient.for_workspace(self.workspace)
        record = f"`sutazai smoke {agent.name} --record" + (
            f" --samples {self.samples}`" if self.samples > 1 else "`"
        )
        if cassette is None:
            return cannot(
                "skipped", f"not recorded (no {cassette_path(agent).name}): record it with {record}"
            )
        if cassette.fingerprint != self._fingerprint(agent):
            return cannot(
                "stale",
                f"stale cassette: the agent's prompt, spec or tools changed since it was recorded; {record}",
            )
        recorded = cassette.cases.get(case.name)
        if recorded is None:
            return cannot("skipped", f"not recorded: record this case with {record}")
        if not _same_input(recorded.get("case") or {}, case):
            return cannot(
                "stale", f"stale cassette: this case's input changed since it was recorded; {record}"
            )
        samples = cassette.samples(case.name)
        exchanges = samples[sample] if sample < len(samples) else None
        if exchanges is None:
            return cannot(
                "skipped", f"the cassette holds {len(samples)} sample(s), not {sample + 1}: {record}"
            )
        return ReplayClient(exchanges)

    async def _case(
        self, agent: AgentDefinition, case: SmokeCase, cassette: Cassette | None, sample: int = 0
    ) -> CaseResult:
        """One sample of a case; with the latest OTel names its run sits under a span that carries
        the verdict as ``gen_ai.evaluation.result`` events."""
        from sutazai.agents import tracing

        with tracing.evaluation_span(agent.name, case.name) as span:
            result = await self._sample(agent, case, cassette, sample)
            span.evaluated(f"smoke {case.name}", result.status, "; ".join(result.reasons))
        return result

    async def _sample(
        self, agent: AgentDefinition, case: SmokeCase, cassette: Cassette | None, sample: int = 0
    ) -> CaseResult:
        client = self._client(agent, case, cassette, sample)
        if isinstance(client, CaseResult):
            return client
        prompt, history = case.prompt_and_history()
        runtime = AgentRuntime(self.workspace, client, self.store)
        started = time.perf_counter()
        seeded = _with_seed(agent, sample) if self.samples > 1 else agent
        try:
            finished = await run_to_end(runtime, seeded, prompt, history=history, priority="batch")
            latency = (time.perf_counter() - started) * 1000
            stale = getattr(client, "stale_reason", None)
            base = CaseResult(
                agent.name,
                case.name,
                case.tags,
                "passed",
                [],
                latency,
                finished.prompt_tokens,
                finished.completion_tokens,
                finished.output,
                finished.run_id,
                sample,
            )
            if stale:
                base.status, base.reasons = "stale", [f"stale cassette: {stale}; re-record"]
                return base
            if finished.status == "unavailable":
                base.status, base.reasons = "unavailable", [finished.error or "gateway unavailable"]
                return base
            if finished.status != "ok" and case.expect.status != finished.status:
                base.status, base.reasons = "error", [f"run {finished.status}: {finished.error}"]
                return base
            base.trajectory = self._trajectory(finished.run_id)
            outcome = Outcome(
                finished.output,
                finished.tool_calls,
                latency,
                finished.completion_tokens,
                finished.prompt_tokens,
                status=finished.status,
                trajectory=base.trajectory,
                agent=agent.name,
            )
            if case.expect.similar_to is not None:
                model = self.workspace.settings.memory.embedding_model
                outcome.similarity = await _similarity(
                    client, case.expect.similar_to.text, finished.output, model, agent.name
                )
            if case.expect.judge is not None:
                outcome.judge_score = await judge(
                    client, case.expect.judge, prompt, finished.output, agent.name
                )
            base.reasons = check(case.expect, outcome)
            base.status = "failed" if base.reasons else "passed"
            if isinstance(client, RecordingClient) and cassette is not None:
                cassette.put_sample(case.model_dump(exclude={"tags"}), sample, client.exchanges)
            return base
        except GatewayUnavailable as exc:
            return CaseResult(agent.name, case.name, case.tags, "unavailable", [str(exc)], sample=sample)
        except UserError as exc:
            return CaseResult(agent.name, case.name, case.tags, "error", [str(exc)], sample=sample)
        finally:
            await runtime.remotes.aclose()
            await client.aclose()

    def _trajectory(self, run_id: str | None) -> dict[str, list[str]]:
        """Tools and delegations each agent of the run's tree called, in order (key: agent name)."""
        from sutazai.agents.run_record import ToolStep, run_view

        if run_id is None:
            return {}
        run = self.store.run(run_id)
        if run is None:
            return {}
        out: dict[str, list[str]] = {}
        for _, view in run_view(self.store, run).walk():
            calls = out.setdefault(view.run.agent, [])
            calls += [s.tool for s in view.steps if isinstance(s, ToolStep)]
        return out


def _with_seed(agent: AgentDefinition, sample: int) -> AgentDefinition:
    """Sample ``sample`` of an agent: its seed moved by the sample's index (the same N seeds every
    time, so a re-run draws the same samples where the engine is deterministic per seed)."""
    return agent.with_seed((agent.spec.seed or 0) + sample)


def _same_input(recorded: dict[str, Any], case: SmokeCase) -> bool:
    """The recording answers this case while what is sent is the same: editing expectations
    (a judge's rubric is sent, and changes its exchange key instead) keeps the cassette."""
    now = case.model_dump(include={"input", "conversation"})
    return all(recorded.get(k) == v for k, v in now.items())
