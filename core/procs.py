"""Knowing a process again: a pid plus the time it started.

Pids are reused. A pid file or a run record that names only a pid can point at an unrelated
process after a reboot or a crash, and ``stack down`` would signal it. So what we record is the
pair (pid, start time): the kernel's start time of a process never changes, and a new process with
the same pid has a different one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux ``/proc``); None if it is gone. A
    zombie (exited, not yet reaped by its parent: a supervisor started by a process that is still
    running) is gone too: waiting for it to exit would wait for its parent instead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: fields restart after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # field 3: the state
        return None
    return int(fields[19])  # field 22 of the whole line


def pid_exists(pid: int) -> bool:
    """Whether any process has this pid now (ours or not: EPERM means it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, kw_only=True)
class ProcessRef:
    """A process we started or ran in, recognisable even after its pid is reused."""

    pid: int
    started: int | None  # None where /proc is unavailable: fall back to "the pid exists"

    @classmethod
    def current(cls) -> ProcessRef:
        return cls.of(os.getpid())

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        return cls(pid=pid, started=start_time(pid))

    def alive(self) -> bool:
        if self.started is None:
            return pid_exists(self.pid)
        return start_time(self.pid) == self.started

    def to_text(self) -> str:
        return f"{self.pid} {self.started if self.started is not None else '-'}"

    @classmethod
    def from_text(cls, text: str) -> ProcessRef | None:
        """Read what :meth:`to_text` wrote (or a bare pid, from older files)."""
        parts = text.split()
        try:
            pid = int(parts[0])
            started = int(parts[1]) if len(parts) > 1 and parts[1] != "-" else None
        except (IndexError, ValueError):
            return None
        return cls(pid=pid, started=started)


def listener(port: int) -> tuple[int | None, str] | None:
    """Who listens on TCP ``port`` here: (pid, command line), pid None when the socket is not ours
    to see; None when nothing listens. Read from Linux's ``/proc`` (no ``ss`` or ``lsof`` needed)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])  # state 0A: LISTEN
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                return int(proc.name), command.strip()
        except OSError:
            continue
    return None, "a process this user cannot see"
