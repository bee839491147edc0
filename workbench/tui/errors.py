"""One way to show a user's mistake in the TUI: as the CLI prints it (where, what, what to do).

Like harlequin's ``pretty_error_message``: every pane and screen calls :func:`show_error`, from the
UI thread or a worker thread alike, so errors look the same everywhere and none is a traceback.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from sutazai.errors import UserError


def show_error(node: DOMNode, error: UserError, title: str | None = None) -> None:
    text = "\n".join(problem.render() for problem in error.problems)
    app = node.app
    try:
        asyncio.get_running_loop()  # the UI thread runs the app's loop; worker threads have none
    except RuntimeError:
        app.call_from_thread(app.notify, text, title=title or "", severity="error", timeout=10)
    else:
        app.notify(text, title=title or "", severity="error", timeout=10)
