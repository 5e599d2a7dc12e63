"""The listing: one summary per saved conversation, newest first, filtered.

Filters on model (exact or a glob), profile and date are answered from the index
alone; ``--grep`` reads the files that pass the other filters, raw bytes first.
Rows stay JSON text end to end, so a warm ``replay --json`` of 10,000 conversations
parses nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from .. import store
from ..errors import GptcliError, NotFoundError, UsageError
from ..transcript import iso_utc
from .index import Index, IndexEntry

_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s`` or an ISO date/time -> the cut-off as an index timestamp."""
    now = now or datetime.now(UTC)
    m = _SINCE_RE.match(text)
    if m:
        try:
            return iso_utc(now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()]))
        except (OverflowError, ValueError):  # 99999999999d: before year 1
            raise UsageError(f"--since: {text!r} reaches back before the year 1") from None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: cannot read {text!r}", hint="use a duration like 7d, 12h, 30m, 2w or a date like 2025-01-31"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # a bare date or time is local time
    return iso_utc(dt)


@dataclass(frozen=True)
class Filters:
    model: str | None = None  # exact (case-insensitive) or a glob: gpt-4o*, *mini*
    profile: str | None = None
    since: str | None = None  # index timestamp (see parse_since)
    grep: str | None = None  # case-insensitive text in any message
    limit: int | None = None  # None or 0: all
    comparison: str | None = None  # the comparison id shared by an ``ask -m A -m B`` (a prefix will do)

    def match(self, e: IndexEntry) -> bool:
        """Whether an ``ok`` entry passes every filter but ``grep`` (which needs the file)."""
        if self.profile is not None and e.profile != self.profile:
            return False
        if self.comparison is not None:
            if self.comparison not in e.row_json:  # most rows: no parsing
                return False
            if not str(json.loads(e.row_json).get("comparison") or "").startswith(self.comparison):
                return False
        if self.since is not None and e.updated < self.since:
            return False
        if self.model is not None:
            pattern = self.model.lower()
            if not any(fnmatchcase(str(m).lower(), pattern) for m in e.models):
                return False
        return True


@dataclass
class Listing:
    rows_json: list[str]  # newest first, after filters and limit: each row as JSON text
    total: int  # conversations in the store
    more: bool  # more rows matched than the limit let through
    problems: list[str] = field(default_factory=list)  # files that could not be read
    read_files: int = 0  # files read to refresh the index (0 when warm)

    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads("[" + ",".join(self.rows_json) + "]")  # one call: faster
        return rows


def listing(filters: Filters, index: Index | None = None) -> Listing:
    index = index or Index()
    entries = index.refresh()
    directory = index.directory
    problems = [f"{name}: {e.error}" for name, e in sorted(entries.items()) if e.kind == "error"]
    ok = [(e.updated, name, e) for name, e in entries.items() if e.kind == "ok"]
    ok.sort(reverse=True)  # newest first; the file name breaks ties
    limit = filters.limit or None
    rows: list[str] = []
    more = False
    needle = filters.grep.casefold() if filters.grep else None
    narrowed = any(x is not None for x in (filters.profile, filters.since, filters.model, filters.comparison))
    for _, name, e in ok:
        if narrowed and not filters.match(e):
            continue
        if needle is not None and not _file_contains(directory / name, needle):
            continue
        if limit is not None and len(rows) >= limit:
            more = True
            break
        rows.append(e.row_json)
    return Listing(rows, len(ok), more, problems, index.read_files)


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _file_contains(path: Path, needle: str) -> bool:
    """Whether any message of the file contains ``needle`` (casefolded).

    The raw bytes are checked first (gptcli writes UTF-8 unescaped), and only a hit is
    confirmed by parsing, so a search of thousands of files parses few of them. A
    needle with characters JSON escapes, or a file with ``\\u`` escapes (other tools),
    is always parsed.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if not _JSON_ESCAPED.search(needle) and b"\\u" not in data:
        raw = needle.encode()
        if needle.upper() == needle == needle.lower():
            found = raw in data  # nothing in the needle has a case (CJK, digits): a byte search is exact
        elif data.isascii():
            found = raw in data.lower()  # ASCII text: bytes.lower() is casefold()
        else:
            found = needle in data.decode("utf-8", "replace").casefold()
        if not found:
            return False
    try:
        conv = store.load(path)
    except GptcliError:
        return False
    return any(needle in str(r.get("content") or "").casefold() for r in conv.records)


def newest() -> Path:
    """The most recent conversation in the listing's order (``--last``)."""
    found = listing(Filters(limit=1))
    if not found.rows_json:
        raise NotFoundError("no saved conversations yet", hint="start one with: gptcli ask or gptcli chat")
    return Path(found.rows()[0]["path"])
