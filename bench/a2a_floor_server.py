"""An A2A server whose one agent answers at once, with the events ``sutazai a2a serve`` sends (task,
working, the answer as an artifact, completed): the a2a-sdk's own floor, the control for
``bench_a2a``.

    python -m bench.a2a_floor_server PORT
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")  # as sutazai a2a serve


def main() -> None:
    import uvicorn
    from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from starlette.applications import Starlette
    from starlette.routing import Mount

    class Instant(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            if context.current_task is None and context.message is not None:
                await event_queue.enqueue_event(new_task_from_user_message(context.message))
            updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
            await updater.start_work()
            metadata: dict[str, Any] = {"run_id": "-", "prompt_tokens": 0, "completion_tokens": 0}
            await updater.add_artifact(
                [new_text_part("ok")], artifact_id="answer", name="answer", metadata=metadata, last_chunk=True
            )
            await updater.complete()

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            return None

    port = int(sys.argv[1])
    url = f"http://127.0.0.1:{port}/agents/instant/"
    card = AgentCard(
        name="instant",
        description="answers at once",
        version="1.0.0",
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="ask", name="instant", description="answers at once", tags=["bench"])],
    )
    handler = DefaultRequestHandler(agent_executor=Instant(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")]
    app = Starlette(routes=[Mount("/agents/instant", routes=routes)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
