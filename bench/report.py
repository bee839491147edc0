"""How every benchmark prints its figures: a median with its range, and the errors it counted apart."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable


def spread(values: list[float], digits: int = 1) -> str:
    """``median (min-max)``: the figure and how far the rounds strayed."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_errors(counters: Iterable[Counter[str]], top: int = 5) -> None:
    """The most frequent errors over the rounds, indented under the row they belong to."""
    for message, count in sum(counters, Counter()).most_common(top):
        print(f"    {count} x {message}")
