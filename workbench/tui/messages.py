"""Messages between widgets: panes announce, the app decides (no reaching across)."""

from __future__ import annotations

from textual.message import Message


class AgentChosen(Message):
    """The user picked an agent (Enter in the table, or the palette)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class ChatWith(Message):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class RunFinishedMsg(Message):
    """A run ended somewhere; traces and the agents table refresh."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
