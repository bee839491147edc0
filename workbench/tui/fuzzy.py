"""Fuzzy filtering for the agents table: subsequence matching, scored so tight matches sort first."""

from __future__ import annotations


def score(query: str, text: str) -> int | None:
    """None when ``query`` is not a subsequence of ``text``; lower is better."""
    if not query:
        return 0
    text = text.lower()
    position = -1
    gaps = 0
    for char in query.lower():
        found = text.find(char, position + 1)
        if found < 0:
            return None
        gaps += found - position - 1
        position = found
    return gaps + (0 if text.startswith(query[:1].lower()) else 5)
