"""A pane that is imported and mounted after the first frame.

Textual's ``Lazy`` defers mounting, but the wrapped widget (and so its module and everything it
imports) must exist at compose time. ``Deferred`` takes a factory instead, so the Chat, Traces,
Backend and Stack panes cost nothing until the Agents tab is on screen (see docs/benchmarks.md:
first paint in a real terminal).
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widget import MountError, Widget


class Deferred(Widget):
    DEFAULT_CSS = "Deferred { display: none; }"

    def __init__(self, factory: Callable[[], Widget]) -> None:
        super().__init__()
        self._factory = factory

    def on_mount(self) -> None:
        self.call_after_refresh(self._replace)

    async def _replace(self) -> None:
        parent = self.parent
        if not isinstance(parent, Widget) or not parent.is_attached:
            return  # the app is already closing (it may quit on its first frame)
        try:
            await parent.mount(self._factory(), after=self)
        except MountError:
            return
        await self.remove()
