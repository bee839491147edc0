"""Each agent's long-term memory, opened once per runtime, and the ``remember`` / ``recall`` tools
that reach it (built-ins an agent lists in ``tools:``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sutazai.agents.memory import Memory, open_store
from sutazai.agents.tools import RUNTIME_TOOLS, Tool

if TYPE_CHECKING:
    from sutazai.agents.loader import AgentDefinition
    from sutazai.redact import Redactor
    from sutazai.workspace import Workspace

Embed = Callable[[list[str], str, str], Awaitable[list[list[float]]]]  # texts, model, agent


class AgentMemories:
    """The memories of the agents one runtime runs, each opened on first use."""

    def __init__(self, workspace: Workspace, embed: Embed, redactor: Redactor) -> None:
        self.workspace = workspace
        self.embed = embed
        self.redactor = redactor
        self._opened: dict[str, Memory] = {}

    def of(self, agent: AgentDefinition) -> Memory:
        if agent.name not in self._opened:
            settings = self.workspace.settings.memory
            backend = agent.spec.memory.backend or settings.backend
            url = settings.chroma_url if backend == "chroma" else settings.qdrant_url
            folder = self.workspace.memory_dir(agent.name)
            store = open_store(backend, agent.name, agent.spec.collection_name(), folder, url)

            async def embed(texts: list[str]) -> list[list[float]]:
                return await self.embed(texts, settings.embedding_model, agent.name)

            self._opened[agent.name] = Memory(store, embed, self.redactor)
        return self._opened[agent.name]

    def tools(self, agent: AgentDefinition) -> dict[str, Tool]:
        """The agent's own tools, with ``remember`` and ``recall`` bound to its memory if listed."""
        tools = dict(agent.tools)
        if not RUNTIME_TOOLS & set(agent.spec.tools):
            return tools
        memory = self.of(agent)

        async def remember(text: str) -> str:
            """Store a fact in this agent's long-term memory."""
            await memory.remember([text], [{"source": "tool"}])
            return "stored"

        async def recall(query: str) -> str:
            """Search this agent's long-term memory."""
            hits = await memory.recall(query, agent.spec.memory.top_k or 4)
            return "\n".join(f"- {h.text}" for h in hits) or "nothing found"

        for name, fn in (("remember", remember), ("recall", recall)):
            if name in agent.spec.tools:
                tools[name] = Tool.from_function(name, fn)
        return tools
