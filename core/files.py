"""Files the workbench keeps for the user: private, written whole or not at all, never through a
planted link.

Everything under ``.sutazai/`` (runs, memories, logs, the gateway token) is the user's alone:
folders 0700, files 0600. Writers make a temporary file with an unpredictable name in the same
folder (``tempfile.mkstemp``: ``O_EXCL``, mode 0600), fill and flush it, then rename it over the
target, so a reader or a crash sees the old file or the new one, never half of one. A symlink
planted at a predictable name has nothing to follow.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; tighten it if it already exists."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR)
    return path


def atomic_write(path: Path, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Replace ``path`` with ``data`` in one rename; the file is 0600 from its first byte unless
    ``mode`` says otherwise (files meant to be committed, like cassettes)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode != PRIVATE_FILE:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def open_private(path: Path, mode: str = "ab") -> int:
    """A file descriptor for a private file (logs): created 0600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    return os.open(path, flags, PRIVATE_FILE)


@contextlib.contextmanager
def locked(path: Path, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold a cross-process lock (``flock`` on ``path``) while the block runs."""
    from filelock import FileLock  # imported on first use: every front end imports this module

    with FileLock(str(path), timeout=timeout_s, mode=PRIVATE_FILE):
        yield
