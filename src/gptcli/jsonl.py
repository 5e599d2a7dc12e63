"""JSON Lines files that survive crashes: append-and-flush, tolerant reads, and the one
atomic write (``replacing`` / ``atomic_write``) every file gptcli rewrites goes through.

A process killed mid-write leaves a torn last line. Reads skip it with a warning;
the next append first ends it with a newline so the torn fragment stays a line of
its own (and is skipped) instead of being glued to the next record.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

FILE_MODE = 0o600


# Line breaks to str.splitlines() (and to pre-2019 JavaScript) that JSON leaves raw:
# escaped, so that every reader splits a log into the same lines we wrote.
_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def dumps(record: dict[str, Any]) -> str:
    """One record as one line: UTF-8 kept readable, no line break of any kind inside."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).translate(_BREAKS)


class Appender:
    """Appends records to one file, each with a single write() so lines never interleave.

    O_APPEND makes every write land at the current end even with several writers
    (two ``gptcli`` processes never share a conversation file, but a batch output
    file may be reopened by ``--resume``).
    """

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        self._repair_tail()

    def _repair_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as f:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                os.write(self._fd, b"\n")

    def write(self, record: dict[str, Any]) -> None:
        data = (dumps(record) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self._fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class BadLine:
    lineno: int
    reason: str
    last: bool  # a torn last line: the signature of a crash mid-write


def read(path: Path, bad: list[BadLine] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)``; undecodable lines go to ``bad`` (never raise)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    ends_clean = data.endswith(b"\n") or not data
    count = len(lines)
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_last = i == count and not ends_clean
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            if bad is not None:
                bad.append(BadLine(i, "torn last line" if is_last else f"not JSON: {e}", is_last))
            continue
        if not isinstance(record, dict):
            if bad is not None:
                bad.append(BadLine(i, "not a JSON object", is_last))
            continue
        yield i, record


@contextlib.contextmanager
def replacing(path: Path, *, mode: int | None = FILE_MODE, fsync: bool = True) -> Iterator[BinaryIO]:
    """The one atomic writer: a binary file that replaces ``path`` when the block ends.

    Readers see the old file or the new one, never half: the data goes to a temporary
    file in the same directory, is flushed (and fsynced unless ``fsync=False``, for
    caches whose loss costs only a rebuild), gets ``mode`` (None: the mode of the file
    it replaces, else FILE_MODE) and is renamed over ``path``. An exception in the
    block leaves ``path`` untouched and removes the temporary file.
    """
    import tempfile  # not at import: ``gptcli count`` never writes through here

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        if mode is None:
            try:
                mode = os.stat(path).st_mode & 0o7777
            except FileNotFoundError:
                mode = FILE_MODE
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(
    path: Path, data: str | bytes | Iterable[bytes], *, mode: int | None = FILE_MODE, fsync: bool = True
) -> None:
    """Write ``path`` all at once (``replacing``): text as UTF-8, bytes, or chunks of bytes."""
    chunks: Iterable[bytes] = (
        [data.encode("utf-8")] if isinstance(data, str) else [data] if isinstance(data, bytes) else data
    )
    with replacing(path, mode=mode, fsync=fsync) as f:
        for chunk in chunks:
            f.write(chunk)
