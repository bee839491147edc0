"""The base side of ``sutazai smoke compare --base GIT_REF``: the workspace as it is at a git ref,
checked out in a temporary detached worktree (removed afterwards, whatever happens), so its smoke
cases run against the same gateway as the working tree's and the two result sets can be compared."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sutazai.errors import Problem, UserError
from sutazai.workspace import MARKER


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise UserError(Problem("--base GIT_REF needs git, which is not installed"))
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@contextmanager
def workspace_at(root: Path, ref: str) -> Iterator[Path]:
    """The workspace folder ``root`` as of ``ref``, in a temporary worktree of its repository."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UserError(
            Problem(f"{root} is not in a git repository", hint="compare two results files instead")
        )
    repository = Path(top.stdout.strip())
    commit = _git(repository, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise UserError(
            Problem(f"no commit {ref!r} in {repository}", hint="a branch, tag or commit: `git log --oneline`")
        )
    folder = Path(tempfile.mkdtemp(prefix="sutazai-base-"))
    added = _git(repository, "worktree", "add", "--detach", str(folder / "tree"), commit.stdout.strip())
    if added.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise UserError(Problem(f"git could not check out {ref!r}: {added.stderr.strip()}"))
    try:
        base = folder / "tree" / root.resolve().relative_to(repository.resolve())
        if not (base / MARKER).exists():
            raise UserError(Problem(f"at {ref!r} there is no workspace at {base.name} (no {MARKER})"))
        yield base
    finally:
        _git(repository, "worktree", "remove", "--force", str(folder / "tree"))
        shutil.rmtree(folder, ignore_errors=True)
