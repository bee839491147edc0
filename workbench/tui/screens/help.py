"""Help: what each tab does and every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# SutazAI workbench

| key | where | what |
| --- | --- | --- |
| `1`–`5` | anywhere | Agents, Chat, Traces, Backend, Stack |
| `ctrl+p` | anywhere | command palette: every action |
| `n` | anywhere | new agent from a template |
| `a` | Agents, detail | run Aider on the agent (suspends the TUI) |
| `D` | Agents, detail | debug the agent: breakpoints, `c`/`n`/`i`/`o` continue and step, `e` edit, `r` replay |
| `t` | anywhere | light / dark theme |
| `/`, `s`, `enter`, `c` | Agents | filter (fuzzy), sort, open detail, chat |
| `enter`, `esc`, `ctrl+r`, `ctrl+l` | Chat | send, cancel, re-run, clear |
| `e`, `m`, `f5` | Traces | edit a step's prompt and replay, mark two runs to compare, reload |
| `u`, `d`, `r` | Stack | start the stack, stop it, restart the selected service |
| `?` | anywhere | this help |
| `q` | anywhere | quit |

Agent files are watched: new, changed and broken agents show up at once.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
