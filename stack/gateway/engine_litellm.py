"""Providers that need translation (Anthropic, Bedrock, ...) through LiteLLM, imported lazily."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from sutazai.stack.gateway.engines import Engine
from sutazai.stack.gateway.types import ChatRequest, Delta, EngineFailure, Usage


class LiteLLMEngine(Engine):
    """Providers that need translation (Anthropic, Bedrock, ...) through LiteLLM, imported lazily:
    it costs seconds to import and ~8 ms a call, so only these engines pay for it."""

    async def health(self) -> bool:
        return True

    async def stream(
        self, request: ChatRequest, model: str, slot: int | None, attempt: int = 0
    ) -> AsyncGenerator[Delta, None]:
        import os

        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        params = {**self.config.litellm_params, **request.options}
        target = params.pop("model", model)
        t0 = time.perf_counter()
        try:
            response = await litellm.acompletion(
                model=target,
                messages=request.messages or [{"role": "user", "content": request.prompt or ""}],
                stream=True,
                tools=request.tools,
                stream_options={"include_usage": True},
                **params,
            )
            usage = Usage()
            finish = "stop"
            async for chunk in response:
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield Delta(content=choice.delta.content)
                    finish = choice.finish_reason or finish
                if getattr(chunk, "usage", None):
                    usage = Usage(
                        chunk.usage.prompt_tokens,
                        chunk.usage.completion_tokens,
                        completion_ms=(time.perf_counter() - t0) * 1000,
                    )
        except Exception as exc:
            raise EngineFailure(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        yield Delta(finish_reason=finish, usage=usage)
