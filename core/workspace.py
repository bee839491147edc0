"""The workspace: a folder with ``sutazai.toml`` and ``agents/<name>/`` folders, found like git."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sutazai.errors import Problem, UserError, WorkspaceNotFound
from sutazai.files import private_dir

if TYPE_CHECKING:  # pydantic stays unimported until settings are read: `sutazai-tui` paints first
    from sutazai.config import Settings

MARKER = "sutazai.toml"
TOKEN_FILE = "gateway.token"
AGENT_FILE = "agent.yaml"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
RESERVED_NAMES = frozenset({"con", "nul", "aux", "prn", "sutazai", "agents", "tools", "test", "tests"})


def find_root(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        if (folder / MARKER).is_file():
            return folder
    return None


def check_name(name: str, what: str = "agent name") -> str:
    """Names come from users and become folder names: they must never escape their folder."""
    if not NAME_PATTERN.match(name) or name in RESERVED_NAMES:
        raise UserError(
            Problem(
                f"invalid {what} {name!r}",
                hint="use lowercase letters, digits and '-', starting with a letter "
                f"(pattern [a-z][a-z0-9-]*), and not one of: {', '.join(sorted(RESERVED_NAMES))}",
            )
        )
    return name


@dataclass
class Workspace:
    root: Path
    flags: dict[str, Any] | None = None

    @classmethod
    def discover(cls, explicit: Path | None = None, flags: dict[str, Any] | None = None) -> Workspace:
        if explicit is not None:
            root = explicit.resolve()
            if not (root / MARKER).is_file():
                raise WorkspaceNotFound(
                    Problem(f"{root} has no {MARKER}", hint=f"run `sutazai init {explicit}` to create one")
                )
            return cls(root, flags)
        root_found = find_root(Path.cwd().resolve())
        if root_found is None:
            raise WorkspaceNotFound(
                Problem(
                    f"no {MARKER} in {Path.cwd()} or any parent folder",
                    hint="run `sutazai init DIR --demo`, cd into a workspace, or pass --workspace",
                )
            )
        return cls(root_found, flags)

    @cached_property
    def settings(self) -> Settings:
        from sutazai.config import load_settings

        return load_settings(self.root / MARKER, flags=self.flags)

    @property
    def config_file(self) -> Path:
        return self.root / MARKER

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def data_dir(self) -> Path:
        data = Path(self.settings.paths.data)
        return data if data.is_absolute() else self.root / data

    def private_dir(self) -> Path:
        """``.sutazai/``, created owner-only (0700): runs, memories, logs and the token live here."""
        return private_dir(self.data_dir)

    @property
    def token_file(self) -> Path:
        return self.data_dir / TOKEN_FILE

    def gateway_token(self) -> str | None:
        """The token that unlocks ``/admin/*`` and interactive priority: settings first (flag or
        ``SUTAZAI_GATEWAY_TOKEN``), then the file ``stack up`` wrote."""
        if self.settings.gateway.token:
            return self.settings.gateway.token
        try:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        except (FileNotFoundError, PermissionError):
            return None

    def ensure_gateway_token(self) -> str:
        """Create the workspace's token once (0600, never overwritten) and return it."""
        existing = self.gateway_token()
        if existing:
            return existing
        folder = self.private_dir()
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".token-")  # 0600, an unpredictable name
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_urlsafe(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another `stack up` won the race: use its token
                os.link(temporary, self.token_file)  # atomic: the file appears whole or not at all
        finally:
            os.unlink(temporary)
        return self.token_file.read_text(encoding="utf-8").strip()

    @property
    def runs_db(self) -> Path:
        return self.data_dir / "runs.db"

    def memory_dir(self, agent: str) -> Path:
        return self.data_dir / "memory" / check_name(agent)

    def agent_dir(self, name: str) -> Path:
        return self.agents_dir / check_name(name)

    def agent_dirs(self) -> list[Path]:
        """Every ``agents/<name>/agent.yaml`` folder, sorted by name."""
        if not self.agents_dir.is_dir():
            return []
        return sorted(p.parent for p in self.agents_dir.glob(f"*/{AGENT_FILE}"))
