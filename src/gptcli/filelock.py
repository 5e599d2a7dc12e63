"""Exclusive locks between gptcli processes (``fcntl.flock``), with the holder's pid.

A lock is a small file in ``cache_dir()/locks`` named after what it guards (a batch
output, a conversation), not the guarded file itself: ``batch --resume`` replaces its
output atomically (a new inode), which a lock on the file would not survive. The holder
writes its pid into the lock file so that a refused run can name it. The kernel drops
the lock when the holder exits, SIGKILL included: a stale lock file locks nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import IO

from . import settings


class Busy(Exception):
    """Another process holds the lock (``pid``: its id, None if unknown)."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


class Lock:
    """A held lock; released by ``release()``, or when garbage-collected or the process ends."""

    def __init__(self, fd: int) -> None:
        self.file: IO[bytes] | None = os.fdopen(fd, "rb", buffering=0)

    def release(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()  # closing drops the flock
            self.file = None


def lock_path(kind: str, target: Path) -> Path:
    """The lock file guarding ``target`` (its real path: two spellings of one file share it)."""
    real = os.path.realpath(target)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return settings.ensure_private_dir(settings.cache_dir() / "locks") / f"{kind}-{digest}.lock"


def acquire(kind: str, target: Path, *, wait: bool = False) -> Lock:
    """Lock ``target`` for this process; ``Busy`` if another holds it (or wait, with ``wait``)."""
    import fcntl

    path = lock_path(kind, target)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(_holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return Lock(fd)


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None
