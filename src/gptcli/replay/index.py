"""The index of saved conversations: one summary per file, cached in the cache dir.

Listing 10,000 conversations must not read 10,000 files: ``Index.refresh`` reads only
the files that are new or changed since the last listing and keeps the rest from one
JSON file. Each file's summary is an ``IndexEntry``. The index is a cache: it never
writes a conversation file and holds nothing that cannot be recomputed from them.
"""

from __future__ import annotations

import json
import os
import stat as stat_
import time
from pathlib import Path
from typing import Any, NamedTuple

from .. import jsonl, settings, store
from ..errors import ConfigError, GptcliError
from ..transcript import summarize

_new = tuple.__new__

INDEX_VERSION = 4  # 2: rows carry "title" and "failed", or "spend"; 3: all three; 4: "comparison"
INDEX_NAME = "replay-index.json"


class IndexEntry(NamedTuple):
    """One conversation file as the index remembers it.

    ``(size, mtime_ns, inode)`` is the ``stat`` taken before the file was read. ``kind`` is
    ``"ok"`` (a summary: ``updated``, ``profile``, ``models`` and the listing row as JSON
    text, its ``--json`` output verbatim, so that a warm ``replay --json`` neither parses
    nor re-encodes it), ``"error"`` (a file that cannot be read: ``error`` says why) or
    ``"pending"`` (an empty file, or only a torn first line: a writer is starting it).
    On disk an entry is a JSON list: ``[size, mtime_ns, inode, kind, ...]`` with
    ``updated, profile, models, row_json`` after ``"ok"`` and the message after ``"error"``.
    """

    size: int
    mtime_ns: int
    inode: int
    kind: str
    updated: str = ""
    profile: str | None = None
    models: list[str] = []  # noqa: RUF012  # a NamedTuple default, never mutated
    row_json: str = ""
    error: str = ""

    def to_json(self) -> list[Any]:
        key: list[Any] = [self.size, self.mtime_ns, self.inode, self.kind]
        if self.kind == "ok":
            return [*key, self.updated, self.profile, self.models, self.row_json]
        if self.kind == "error":
            return [*key, self.error]
        return key

    @classmethod
    def from_json(cls, e: Any, size: int, mtime_ns: int, ino: int) -> IndexEntry | None:
        """The entry a cached list describes, if it is well formed and matches this ``stat``."""
        # A warm listing builds 10,000 of these: type() checks and tuple.__new__, not cls(...).
        if type(e) is not list or len(e) < 4 or e[0] != size or e[1] != mtime_ns or e[2] != ino:
            return None
        kind = e[3]
        if kind == "ok" and len(e) == 8 and type(e[4]) is str and type(e[6]) is list and type(e[7]) is str:
            return _new(cls, (*e, ""))
        if kind == "error" and len(e) == 5:
            return _new(cls, (size, mtime_ns, ino, "error", "", None, [], "", str(e[4])))
        if kind == "pending" and len(e) == 4:
            return _new(cls, (size, mtime_ns, ino, "pending", "", None, [], "", ""))
        return None

    def row(self) -> dict[str, Any] | None:
        """The listing row of an ``ok`` entry, parsed."""
        return json.loads(self.row_json) if self.kind == "ok" else None


def row(entry: IndexEntry) -> dict[str, Any] | None:
    """The listing row of an ``ok`` entry, parsed."""
    return entry.row()


def index_path() -> Path:
    return settings.cache_dir() / INDEX_NAME


def _summarize_file(path: Path, st: os.stat_result) -> dict[str, Any]:
    """A summary, ``{"error": ...}`` for an unreadable file, or ``{"pending": true}`` for one being written."""
    if st.st_size == 0:
        return {"pending": True}
    try:
        conv = store.load(path)
    except GptcliError as e:
        if _being_written(path):
            return {"pending": True}
        return {"error": e.message}
    return summarize(conv, st.st_mtime)


def _being_written(path: Path) -> bool:
    """Nothing whole yet but a torn line: a writer is between open() and its first record."""
    bad: list[jsonl.BadLine] = []
    try:
        rows = list(jsonl.read(path, bad))
    except OSError:
        return False
    return not rows and bool(bad) and all(b.last for b in bad)


def _entry(path: Path, st: os.stat_result) -> IndexEntry:
    key = (st.st_size, st.st_mtime_ns, st.st_ino)
    s = _summarize_file(path, st)
    if "pending" in s:
        return IndexEntry(*key, "pending")
    if "error" in s:
        return IndexEntry(*key, "error", error=s["error"])
    s["path"] = str(path)
    return IndexEntry(*key, "ok", s["updated"], s["profile"], s["models"], json.dumps(s, ensure_ascii=False))


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` all at once, 0600, without fsync: this is a cache. After a power
    cut the rename may survive without the data; the index then fails to parse and is
    rebuilt, which is all a lost cache costs."""
    from .. import jsonl

    jsonl.atomic_write(path, data, mode=0o600, fsync=False)


class Index:
    """Summaries of every conversation file, cached in one JSON file.

    Each entry is keyed by the file name and the ``(size, mtime_ns, inode)`` seen by a
    ``stat`` taken *before* the file is read: a file that grows while (or after) it is
    summarised no longer matches, and is read again next time (gptcli only appends to
    conversation files, so any change moves the size). Only new or changed files are
    read; deleted ones drop out. The index is rewritten only when something changed,
    all at once (temp file + rename), so a crash or a second ``gptcli replay`` running
    at the same time leaves the old index or a new one, each consistent with the files
    it describes; the last writer wins. A missing, corrupt or foreign index (another
    version, another conversations dir) is simply rebuilt: it holds nothing that cannot
    be recomputed from the conversation files, which it never modifies.
    """

    def __init__(self, directory: Path | None = None, path: Path | None = None) -> None:
        self.directory = directory or store.conversations_dir()
        self.path = path or index_path()
        self.read_files = 0  # how many conversation files the last refresh had to read

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if (
            not isinstance(data, dict)
            or data.get("v") != INDEX_VERSION
            or data.get("dir") != str(self.directory)
            or not isinstance(data.get("entries"), dict)
        ):
            return {}
        return data["entries"]

    def refresh(self) -> dict[str, IndexEntry]:
        """File name -> entry for every ``*.jsonl`` in the store, brought up to date."""
        old = self._load()
        from_json = IndexEntry.from_json
        entries: dict[str, IndexEntry] = {}
        changed = False
        self.read_files = 0
        try:
            scan = os.scandir(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as e:
            raise ConfigError(f"cannot list {self.directory}: {e.strerror}") from None
        with scan as it:
            for item in it:
                name = item.name
                if not name.endswith(".jsonl") or name.startswith("."):
                    continue
                try:
                    st = item.stat()
                except OSError:
                    continue
                if not stat_.S_ISREG(st.st_mode):
                    continue
                cached = from_json(old.get(name), st.st_size, st.st_mtime_ns, st.st_ino)
                if cached is not None:
                    entries[name] = cached
                    continue
                changed = True
                self.read_files += 1
                entries[name] = _entry(Path(item.path), st)
        if changed or len(entries) != len(old):
            self._save(entries)
        return entries

    def _save(self, entries: dict[str, IndexEntry]) -> None:
        data = {"v": INDEX_VERSION, "dir": str(self.directory), "entries": {k: e.to_json() for k, e in entries.items()}}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        try:
            settings.ensure_private_dir(self.path.parent)
            _replace_file(self.path, text.encode("utf-8"))
        except OSError:
            return  # a read-only cache only makes the next listing slower
        self._sweep_temp_files()

    def _sweep_temp_files(self) -> None:
        """Temp files left by a writer that was killed mid-write (older than ten minutes)."""
        cutoff = time.time() - 600
        try:
            with os.scandir(self.path.parent) as it:
                for item in it:
                    if item.name.startswith(f".{self.path.name}.") and item.name.endswith(".tmp"):
                        try:
                            if item.stat().st_mtime < cutoff:
                                os.unlink(item.path)
                        except OSError:
                            pass
        except OSError:
            pass
