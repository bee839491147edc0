"""Cassettes: each case's model exchanges, recorded next to the smoke file, replayed offline.

A cassette remembers a fingerprint of the agent (prompt, spec, tools.py) and of every request;
when either no longer matches, the case is reported as stale instead of replaying old answers.
Each case holds one list of exchanges per sample (``sutazai smoke --record --samples N``), so a
replay reproduces the distribution that was recorded, sample for sample.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sutazai.agents.exchange_keys import chat_key, digest
from sutazai.agents.gateway_client import ChatChunk, GatewayClient, ToolCallDelta
from sutazai.agents.loader import AgentDefinition
from sutazai.files import atomic_write
from sutazai.redact import Redactor

VERSION = 3  # 2: the gateway's answer on tool calling and tool results; 3: samples
READS = (2, 3)  # a version-2 case (one `exchanges` list) reads as one sample


class StaleCassette(Exception):
    """The agent or its requests changed since the cassette was recorded."""


def agent_fingerprint(agent: AgentDefinition) -> str:
    tools_source = agent.tools_file.read_text(encoding="utf-8") if agent.tools_file.exists() else ""
    spec = agent.spec.model_dump(exclude={"description", "smoke"})
    return digest({"prompt": agent.system_prompt, "spec": spec, "tools": tools_source})


def cassette_path(agent: AgentDefinition) -> Path:
    smoke = agent.folder / (agent.spec.smoke or "smoke.yaml")
    return smoke.with_name(smoke.stem + ".cassette.json")


class Cassette:
    def __init__(
        self,
        path: Path,
        fingerprint: str,
        cases: dict[str, Any] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.cases: dict[str, Any] = cases or {}
        self.redactor = redactor or Redactor()

    @classmethod
    def load(cls, path: Path) -> Cassette | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("version") not in READS:
            return None
        cases = data.get("cases", {})
        for entry in cases.values():
            if "exchanges" in entry:
                entry["samples"] = [entry.pop("exchanges")]
        return cls(path, data["agent_fingerprint"], cases)

    def samples(self, case: str) -> list[list[dict[str, Any]] | None]:
        entry = self.cases.get(case) or {}
        return list(entry.get("samples") or [])

    def put_sample(self, case: dict[str, Any], sample: int, exchanges: list[dict[str, Any]]) -> None:
        """Keep ``exchanges`` as sample ``sample`` of this case; a case whose input changed starts anew."""
        entry = self.cases.get(case["name"])
        if entry is None or entry.get("case") != case:
            entry = self.cases[case["name"]] = {"case": case, "samples": []}
        samples: list[Any] = entry.setdefault("samples", [])
        samples.extend([None] * (sample + 1 - len(samples)))
        samples[sample] = exchanges

    def save(self) -> None:
        """Written redacted (a token a tool returned must not land in git) and atomically."""
        body = {"version": VERSION, "agent_fingerprint": self.fingerprint, "cases": self.cases}
        text = json.dumps(self.redactor.value(body), indent=1, ensure_ascii=False)
        atomic_write(self.path, text.encode("utf-8"), mode=0o644)


class RecordingClient(GatewayClient):
    """The real gateway client, keeping a copy of every exchange."""

    def __init__(
        self, base_url: str, timeout_s: float = 120.0, agent: str | None = None, token: str | None = None
    ) -> None:
        super().__init__(base_url, timeout_s, agent=agent, token=token)
        self.exchanges: list[dict[str, Any]] = []

    async def chat_stream(
        self, messages: list[dict[str, Any]], model: str, **kw: Any
    ) -> AsyncIterator[ChatChunk]:
        chunks: list[dict[str, Any]] = []
        async for chunk in super().chat_stream(messages, model, **kw):
            chunks.append(asdict(chunk))
            yield chunk
        self.exchanges.append(
            {"kind": "chat", "key": chat_key(messages, model, kw.get("tools")), "chunks": chunks}
        )

    async def embed(self, texts: list[str], model: str, agent: str | None = None) -> list[list[float]]:
        vectors = await super().embed(texts, model, agent)
        self.exchanges.append({"kind": "embed", "key": digest(texts), "vectors": vectors})
        return vectors

    def recorded_tool(self, name: str, arguments: dict[str, Any], result: str) -> None:
        self.exchanges.append({"kind": "tool", "key": digest([name, arguments]), "result": result})

    async def capabilities(self, model: str) -> frozenset[str]:
        found = await super().capabilities(model)
        self.exchanges.append({"kind": "capabilities", "key": model, "capabilities": sorted(found)})
        return found


class ReplayClient(GatewayClient):
    """Answers from a cassette, in order, with no engine and no network."""

    offline = True

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:  # no HTTP client at all
        self.base_url = "replay://cassette"
        self.agent = None
        self.token = None
        self._exchanges = list(exchanges)
        self.stale_reason: str | None = None

    async def aclose(self) -> None:
        return None

    def _next(self, kind: str, key: str) -> dict[str, Any]:
        if not self._exchanges:
            self.stale_reason = f"the run made a {kind} call the cassette does not have"
        elif self._exchanges[0]["kind"] != kind or self._exchanges[0]["key"] != key:
            self.stale_reason = f"the run's {kind} request differs from the recorded one"
        else:
            return self._exchanges.pop(0)
        raise StaleCassette(self.stale_reason)

    async def chat_stream(
        self, messages: list[dict[str, Any]], model: str, **kw: Any
    ) -> AsyncIterator[ChatChunk]:
        for recorded in self._next("chat", chat_key(messages, model, kw.get("tools")))["chunks"]:
            raw = dict(recorded)
            calls = [ToolCallDelta(**c) for c in raw.pop("tool_calls", [])]
            yield ChatChunk(**raw, tool_calls=calls)

    async def embed(self, texts: list[str], model: str, agent: str | None = None) -> list[list[float]]:
        return self._next("embed", digest(texts))["vectors"]  # type: ignore[no-any-return]

    async def models(self) -> list[str]:
        return []

    async def capabilities(self, model: str) -> frozenset[str]:
        return frozenset(self._next("capabilities", model)["capabilities"])

    async def replayed_tool(self, name: str, arguments: dict[str, Any]) -> str | None:
        """The recorded result of this call; None (run the tool) when the recording has none,
        as for a tool that failed while recording."""
        key = digest([name, arguments])
        if self._exchanges and self._exchanges[0]["kind"] == "tool" and self._exchanges[0]["key"] == key:
            return str(self._exchanges.pop(0)["result"])
        return None
