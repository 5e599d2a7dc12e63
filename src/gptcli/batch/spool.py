"""Where ``batch -`` keeps a copy of stdin: a private file in gptcli's own cache dir.

stdin is read twice (the plan, then the run), so it is copied to a file first. That file
holds every prompt: it lives in ``cache_dir()/batch-stdin`` (0700, the file 0600), never
in the shared /tmp, and is named after the process that wrote it. A run killed with
SIGKILL cannot remove its copy, so every run first removes the copies whose process is
gone (issue 17 #3).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import IO

from .. import settings

PREFIX = "stdin-"


def spool_dir() -> Path:
    return settings.ensure_private_dir(settings.cache_dir() / "batch-stdin")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(directory: Path) -> None:
    """Remove the copies left by runs that are no longer running."""
    with contextlib.suppress(OSError):
        for path in directory.glob(f"{PREFIX}*.txt"):
            pid = path.stem[len(PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    path.unlink()


def copy_stdin(stdin: IO[bytes] | None) -> Path:
    """Copy ``stdin`` to a new private file and return its path (the caller removes it)."""
    directory = spool_dir()
    clean_stale(directory)
    path = directory / f"{PREFIX}{os.getpid()}-{id(stdin):x}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        if stdin is not None:
            shutil.copyfileobj(stdin, f, 1 << 20)
    return path
