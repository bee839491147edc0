"""``sutazai a2a serve`` spoken to by the official ``a2a-sdk`` client: cards, a streamed answer, the
task with its run id, and the guard. The gateway is real, its engine scripted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sutazai.agents.runstore import RunStore
from sutazai.scaffolds.generate import init_workspace
from tests.a2a_serving import a2a_serving
from tests.conftest import scripted_gateway
from tests.scripted_engine import Reply, ScriptedEngine


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, ScriptedEngine]]:
    root = init_workspace(tmp_path / "ws", demo=True)
    engine = ScriptedEngine(default="A cat sat on a mat.")
    with scripted_gateway(root, engine), a2a_serving(root) as url:
        yield url, root, engine


async def test_the_official_client_streams_an_answer_and_gets_the_task(
    served: tuple[str, Path, ScriptedEngine],
) -> None:
    from a2a.client import ClientConfig, create_client
    from a2a.types import GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState

    url, root, engine = served
    workspace_card = httpx.get(f"{url}/.well-known/agent-card.json").json()
    assert {s["name"] for s in workspace_card["skills"]} >= {"planner", "summarizer", "fact-finder"}
    planner = httpx.get(f"{url}/agents/planner/.well-known/agent-card.json").json()
    assert {s["name"] for s in planner["skills"]} >= {"fact-finder", "summarizer"}  # its delegates

    engine.replies.append(Reply("Cats sit on mats, briefly."))
    client = await create_client(f"{url}/agents/summarizer/", ClientConfig(streaming=True))
    request = SendMessageRequest(
        message=Message(role=Role.ROLE_USER, parts=[Part(text="Summarise: cats.")], message_id="m-1")
    )
    chunks: list[str] = []
    task_id = ""
    states = []
    async for response in client.send_message(request):
        kind = response.WhichOneof("payload")
        if kind == "task":
            task_id = response.task.id
        elif kind == "artifact_update":
            chunks += [p.text for p in response.artifact_update.artifact.parts]
        elif kind == "status_update":
            states.append(response.status_update.status.state)
    assert "".join(chunks) == "Cats sit on mats, briefly." and len(chunks) > 1  # streamed, chunk by chunk
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    task = await client.get_task(GetTaskRequest(id=task_id))
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    [answer] = task.artifacts
    run_id = answer.metadata["run_id"]
    store = RunStore(root / ".sutazai" / "runs.db")
    try:
        run = store.run(run_id)
    finally:
        store.close()
    assert run is not None and run.agent == "summarizer" and run.output == "Cats sit on mats, briefly."
    await client.close()


def test_foreign_hosts_and_browser_origins_are_refused(served: tuple[str, Path, ScriptedEngine]) -> None:
    url, _, _ = served
    card = f"{url}/agents/summarizer/.well-known/agent-card.json"
    assert httpx.get(card, headers={"Host": "attacker.example"}).status_code == 403
    assert httpx.get(card, headers={"Origin": "https://evil.example"}).status_code == 403
    garbage = httpx.post(
        f"{url}/agents/summarizer/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code in (200, 400) and "error" in garbage.json()  # a JSON-RPC error, no crash


async def test_an_unknown_task_is_a_protocol_error(served: tuple[str, Path, ScriptedEngine]) -> None:
    from a2a.client import ClientConfig, create_client
    from a2a.types import CancelTaskRequest, GetTaskRequest

    url, _, _ = served
    client = await create_client(f"{url}/agents/summarizer/", ClientConfig(streaming=False))
    for call in (
        client.get_task(GetTaskRequest(id="nope")),
        client.cancel_task(CancelTaskRequest(id="nope")),
    ):
        with pytest.raises(Exception) as caught:
            await call
        assert "not found" in str(caught.value).lower()
    await client.close()


async def test_the_task_store_forgets_the_oldest_tasks_past_its_limit() -> None:
    from a2a.server.context import ServerCallContext
    from a2a.types import Task

    from sutazai.workbench.a2a_server import BoundedTaskStore

    store = BoundedTaskStore(limit=3)
    context = ServerCallContext()
    for i in range(5):
        await store.save(Task(id=f"t{i}", context_id="c"), context)
    await store.save(Task(id="t2", context_id="c"), context)  # an update keeps a task fresh
    await store.save(Task(id="t5", context_id="c"), context)
    kept = [i for i in range(6) if await store.get(f"t{i}", context) is not None]
    assert kept == [2, 4, 5]
