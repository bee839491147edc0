"""How a smoke comparison looks on a terminal, for ``sutazai smoke compare`` and the TUI's
side-by-side of two results files: one table, one verdict line."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from sutazai.agents.smoke.verdicts import CaseChange, CaseSummary

CHANGE_COLOURS = {
    "worse": "red",
    "new failure": "red",
    "better": "green",
    "fixed": "green",
    "flaky": "yellow",
}


def rate(summary: CaseSummary | None) -> str:
    return f"{summary.passed}/{summary.total}" if summary is not None else "-"


def change_table(changes: list[CaseChange]) -> Table:
    """Per case: its pass rate before and after, what changed, and the one-sided p of "worse"."""
    table = Table("agent", "case", "base", "head", "change", "p (worse)", box=None)
    for c in changes:
        table.add_row(
            Text(c.agent),
            Text(c.case),
            rate(c.base),
            rate(c.head),
            Text(c.change, style=CHANGE_COLOURS.get(c.change, "")),
            f"{c.p_worse:.3f}",
        )
    return table


def verdict(changes: list[CaseChange], level: float) -> str:
    worse = sum(c.change == "worse" for c in changes)
    if worse:
        return f"{worse} case(s) significantly worse at level {level:g}"
    return f"no case significantly worse at level {level:g}"
