"""The Agents list as it was last checked, so the first frame can show it.

Checking 150 agent folders costs ~0.3 s (1,000: ~1.7 s), most of it YAML parsed with positions for
located errors. A user who opens the TUI again has rarely changed more than one agent, so the last
checked rows are kept with a stamp of every file they came from (name, size, mtime) and the first
frame shows every row whose stamp still holds; the full check runs right after on a worker and
replaces them. Anything that could change another agent's row (``sutazai.toml``, an agent added or
removed) voids the whole cache. The cache lives in the user's cache folder, keyed by workspace
path, written 0600 like everything the workbench keeps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sutazai.files import atomic_write, private_dir
from sutazai.workbench.tui.data import AgentRow
from sutazai.workspace import MARKER, Workspace

VERSION = 1
Stamp = list[list[Any]]


def cache_file(root: Path) -> Path:
    """``$SUTAZAI_CACHE_DIR`` (tests), else the user's cache folder (``~/.cache/sutazai``)."""
    from platformdirs import user_cache_dir

    key = hashlib.sha256(str(root).encode()).hexdigest()[:24]
    base = os.environ.get("SUTAZAI_CACHE_DIR") or user_cache_dir("sutazai")
    return Path(base) / "agent-lists" / f"{key}.json"


def _stamp(folder: Path) -> Stamp:
    """Every file directly in ``folder`` as (name, size, mtime_ns): what an agent's row reads."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    stamp = []
    for entry in entries:
        try:
            if entry.is_file():
                info = entry.stat()
                stamp.append([entry.name, info.st_size, info.st_mtime_ns])
        except OSError:
            continue
    return sorted(stamp)


def _workspace_stamp(root: Path, agents: list[str]) -> list[Any]:
    try:
        info = (root / MARKER).stat()
        config = [info.st_size, info.st_mtime_ns]
    except OSError:
        config = []
    return [config, agents]


def _agent_names(root: Path) -> list[str]:
    return [folder.name for folder in Workspace(root).agent_dirs()]


def stamps(root: Path) -> dict[str, Any]:
    """The stamps to save with rows: taken *before* the check, so an edit during it voids them."""
    names = _agent_names(root)
    return {
        "workspace": _workspace_stamp(root, names),
        "agents": {name: _stamp(root / "agents" / name) for name in names},
    }


def save(root: Path, taken: dict[str, Any], rows: list[AgentRow]) -> None:
    data = {
        "version": VERSION,
        "root": str(root),
        **taken,
        "rows": [dataclasses.asdict(r) for r in rows if r.name in taken["agents"]],
    }
    path = cache_file(root)
    try:
        private_dir(path.parent)
        atomic_write(path, json.dumps(data, separators=(",", ":")).encode())
    except OSError:
        pass  # a read-only home loses a faster start, nothing else


def cached_rows(root: Path) -> list[AgentRow] | None:
    """The rows whose files are as they were checked, or None when the cache says nothing."""
    try:
        data = json.loads(cache_file(root).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("root") != str(root):
        return None
    names = _agent_names(root)
    if data.get("workspace") != _workspace_stamp(root, names):
        return None
    saved: dict[str, Any] = data.get("agents") or {}
    try:
        return [
            AgentRow(**row)
            for row in data.get("rows") or []
            if saved.get(row["name"]) == _stamp(root / "agents" / row["name"])
        ]
    except (TypeError, KeyError):
        return None
