"""The ``smoke.yaml`` model: named, tagged cases with an input (or a short conversation) and
expectations. Errors name file, line and column, like agent specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sutazai.agents.yamlpos import to_plain
from sutazai.errors import Problem, SpecError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolExpectation(_Strict):
    name: str
    arguments: dict[str, Any] | None = Field(None, description="Arguments that must match (a subset).")


class JudgeExpectation(_Strict):
    rubric: str = Field(description="What a good answer does; another model scores it 1-5.")
    model: str = Field("quality", description="Tier or model that judges.")
    min_score: int = Field(3, ge=1, le=5)


class SimilarTo(_Strict):
    """The answer must mean about what ``text`` says: the cosine similarity of the two, embedded by
    the workspace's embedding tier (``[memory] embedding_model``, offline), at least ``threshold``.
    The embeddings are recorded in the cassette, so a replay needs no embedder."""

    text: str = Field(description="A reference answer.")
    threshold: float = Field(0.8, ge=0, le=1, description="Least cosine similarity that passes.")


TrajectoryMode = Literal["exact", "in_order", "any_order", "subset", "superset"]


class TrajectoryExpectation(_Strict):
    """The tools and delegations (``ask_<agent>``) a run called, compared with ``calls``:
    ``exact`` the same list; ``in_order`` these in this order, others between allowed;
    ``any_order`` the same calls in any order; ``subset`` every call made is among these;
    ``superset`` every one of these was made."""

    calls: list[str]
    mode: TrajectoryMode = "in_order"
    agent: str | None = Field(None, description="Check this agent's calls in the run's tree (a child).")


class Expectations(_Strict):
    contains: str | list[str] | None = None
    not_contains: str | list[str] | None = None
    regex: str | None = None
    json_schema: dict[str, Any] | None = Field(
        None, description="The answer must parse as JSON and validate."
    )
    tool_called: str | ToolExpectation | None = None
    max_latency_ms: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, gt=0, description="Completion tokens over the whole run.")
    max_total_tokens: int | None = Field(None, gt=0, description="Prompt + completion tokens of the run.")
    trajectory: list[TrajectoryExpectation] | None = Field(
        None, description="One trajectory (a mapping) or several (a list, e.g. one per child agent)."
    )
    status: Literal["ok", "error", "timeout", "budget", "cancelled", "interrupted"] | None = Field(
        None, description="How the run must end (default: ok)."
    )
    judge: JudgeExpectation | None = None
    similar_to: SimilarTo | None = Field(
        None, description="A reference answer the answer must be close to (a string, or {text, threshold})."
    )

    @field_validator("similar_to", mode="before")
    @classmethod
    def _similar_shorthand(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @field_validator("trajectory", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class Message(_Strict):
    role: Literal["user", "assistant"]
    content: str


class SmokeCase(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    input: str | None = None
    conversation: list[Message] | None = Field(
        None, description="Earlier turns; the last user turn is the input."
    )
    tags: list[str] = Field(default_factory=list)
    expect: Expectations = Field(default_factory=lambda: Expectations.model_validate({}))

    @model_validator(mode="after")
    def _one_input(self) -> SmokeCase:
        if (self.input is None) == (self.conversation is None):
            raise ValueError("give exactly one of `input` or `conversation`")
        if self.conversation is not None and (not self.conversation or self.conversation[-1].role != "user"):
            raise ValueError("a conversation must end with a user turn")
        return self

    def prompt_and_history(self) -> tuple[str, list[dict[str, str]]]:
        if self.input is not None:
            return self.input, []
        turns = [m.model_dump() for m in self.conversation or []]
        return turns[-1]["content"], turns[:-1]


class SmokeFile(_Strict):
    cases: list[SmokeCase]

    @model_validator(mode="after")
    def _unique(self) -> SmokeFile:
        names = [c.name for c in self.cases]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate case names: {', '.join(duplicates)}")
        return self


def load_smoke(path: Path) -> SmokeFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(Problem(f"cannot read smoke file: {exc}", path)) from None
    from sutazai.agents.checks import agent_tools_of, check_smoke

    tree, problems = check_smoke(path, text, agent_tools_of(path.parent))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SpecError(errors)
    return SmokeFile.model_validate(to_plain(tree))
