"""Where the cursor is in a YAML file, from indentation alone: this works on half-typed files."""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"^(\s*)(-\s+)?([A-Za-z_][\w-]*)\s*:(.*)$")
_ITEM = re.compile(r"^(\s*)-\s*(.*)$")


@dataclass
class Context:
    path: list[str]  # parent keys, outermost first
    key: str | None  # the key on this line, when the cursor is after its colon
    in_list_of: str | None  # the key whose list item the cursor is in ("tools")
    prefix: str  # the word being typed
    at_key: bool  # typing a key (not a value)
    present: frozenset[str] = frozenset()  # keys already in the mapping being typed into


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parents(lines: list[str], line_no: int, indent: int) -> list[str]:
    """Keys that own position ``indent`` on ``line_no``, walking up to less indented lines.
    List items are transparent: in ``cases: - expect: contains:`` the path is [cases, expect]."""
    path: list[str] = []
    current = indent
    for i in range(line_no - 1, -1, -1):
        line = lines[i]
        if current == 0:
            break
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spaces = _indent(line)
        match = _KEY.match(line)
        if match and match.group(2):  # "- key: ..." : its keys sit after the dash
            key_indent = spaces + len(match.group(2))
            if key_indent < current and match.group(4).strip() in ("", "|", ">"):
                path.insert(0, match.group(3))
                current = key_indent
            if spaces < current:
                current = spaces
            continue
        if spaces >= current:
            continue
        if match and match.group(4).strip() in ("", "|", ">"):
            path.insert(0, match.group(3))
        current = spaces
    return path


def siblings(lines: list[str], line_no: int, indent: int) -> frozenset[str]:
    """Keys at ``indent`` in the mapping around ``line_no`` (that line excluded). A ``- key:`` line
    starts a list item: walking up it is the first key of ours, walking down another item's."""
    keys: set[str] = set()
    for step in (-1, 1):
        i = line_no + step
        while 0 <= i < len(lines):
            line = lines[i]
            i += step
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            spaces = _indent(line)
            match = _KEY.match(line)
            if match and match.group(2):
                if step == -1 and spaces + len(match.group(2)) == indent:
                    keys.add(match.group(3))
                if spaces + len(match.group(2)) <= indent:
                    break
                continue
            if spaces < indent:
                break
            if spaces == indent and match:
                keys.add(match.group(3))
    return frozenset(keys)


def context_at(text: str, line_no: int, character: int) -> Context:
    lines = text.split("\n")
    line = lines[line_no][:character] if line_no < len(lines) else ""
    prefix_match = re.search(r"[\w./-]*$", line)
    prefix = prefix_match.group(0) if prefix_match else ""
    key_match = _KEY.match(line)
    if key_match:
        indent = len(key_match.group(1)) + len(key_match.group(2) or "")
        return Context(parents(lines, line_no, indent), key_match.group(3), None, prefix, False)
    item = _ITEM.match(line)
    if item:
        indent = len(item.group(1))
        owners = parents(lines, line_no, indent + 1)
        return Context(owners[:-1], None, owners[-1] if owners else None, prefix, False)
    indent = _indent(line)
    present = siblings(lines, line_no, indent)
    return Context(parents(lines, line_no, indent), None, None, prefix, True, present)
