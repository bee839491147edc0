"""A cheap index of the workspace: agent names (for duplicates), their descriptions and delegates
(for delegation checks, completion and go to definition) and tiers, kept up to date on edits."""

from __future__ import annotations

import re
from pathlib import Path

from sutazai.config import DEFAULT_TIERS, read_toml
from sutazai.errors import UserError
from sutazai.workspace import AGENT_FILE, MARKER, find_root

_NAME = re.compile(r"^name:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)
_DESCRIPTION = re.compile(r"^description:\s*(.*)$", re.MULTILINE)
_DELEGATES = re.compile(r"^delegates:\s*\[([^\]]*)\]", re.MULTILINE)


class WorkspaceIndex:
    def __init__(self) -> None:
        self.root: Path | None = None
        self.names: dict[Path, str] = {}
        self.descriptions: dict[str, str] = {}
        self.delegates: dict[str, list[str]] = {}
        self.tiers: set[str] = set(DEFAULT_TIERS)

    def ensure(self, document: Path) -> None:
        """Index the workspace that holds ``document`` (once)."""
        root = find_root(document.parent)
        if root is None or root == self.root:
            return
        self.root = root
        self.names = {}
        for spec in root.glob(f"agents/*/{AGENT_FILE}"):
            try:
                self.update(spec, spec.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
        self.reload_tiers()

    def reload_tiers(self) -> None:
        if self.root is None:
            return
        try:
            tiers = read_toml(self.root / MARKER).get("tiers") or {}
        except UserError:
            tiers = {}
        self.tiers = set(DEFAULT_TIERS) | set(tiers)

    def update(self, spec: Path, text: str) -> None:
        match = _NAME.search(text)
        if match:
            name = self.names[spec] = match.group(1)
            described = _DESCRIPTION.search(text)
            self.descriptions[name] = described.group(1).strip().strip("'\"") if described else ""
            listed = _DELEGATES.search(text)  # the flow form `[a, b]` scaffolds write; else none known
            self.delegates[name] = (
                [d.strip().strip("'\"") for d in listed.group(1).split(",") if d.strip()] if listed else []
            )
        else:
            self.names.pop(spec, None)

    def forget(self, spec: Path) -> None:
        self.names.pop(spec, None)

    def paths_named(self, name: str) -> list[Path]:
        return sorted(p for p, n in self.names.items() if n == name)

    def agent_names(self) -> list[str]:
        return sorted(set(self.names.values()))
