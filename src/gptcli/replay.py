"""Saved conversations as a scriptable asset: the ``replay`` use cases.

* **List** (``listing``): one summary per conversation file, newest first, filtered by
  model, profile, date and text. Summaries come from an index in the cache dir so that
  listing 10,000 conversations does not read 10,000 files (see ``Index``).
* **Show** (``to_text``, ``to_markdown``, ``to_json``, ``to_openai``): one conversation,
  loaded by the same ``store.load`` that ``ask -c`` and ``chat --resume`` use.
* **Re-run** (``plan_rerun``, ``estimate``, ``rerun``): the same user turns, in order,
  through a ``conversation.Session`` with another profile, model or overrides; the
  history is built from the new answers; the new conversation records ``replay_of``.
  The whole re-run is priced before the first request is sent.

Nothing here prints: results and events go back to ``cli``, which hands them to
``render`` (and ``diffview`` for ``--diff``). Nothing here writes to a conversation
file: a re-run creates a new one through the Session; the index lives in the cache dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat as stat_
import tempfile
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import jsonl, settings, store
from .errors import BudgetError, ConfigError, ContextLengthError, GptcliError, NotFoundError, UsageError
from .models import SAMPLING_KEYS, usd

if TYPE_CHECKING:
    from .models import Profile, Turn

# --- summaries ------------------------------------------------------------------------

PROMPT_CHARS = 100  # the first prompt is kept this short in the index and the listing


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _norm_time(value: Any) -> str | None:
    """A timestamp as ``store.now_iso`` writes it (UTC, ms, ``Z``), so strings compare as times."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 24 and value.endswith("Z") and value[10] == "T":
        return value  # already ours: the common case, no parsing
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _iso(dt)


def shorten(text: str, limit: int = PROMPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def summarize(conv: store.Conversation, mtime: float) -> dict[str, Any]:
    """What the listing shows and filters on, for one loaded conversation."""
    meta = conv.meta
    conf: dict[str, Any] = meta["settings"] if isinstance(meta.get("settings"), dict) else {}
    models: list[str] = []
    requested = conf.get("model")
    if isinstance(requested, str) and requested:
        models.append(requested)
    turns = 0
    cost = 0.0
    priced = unpriced = 0
    prompt_tokens = completion_tokens = 0
    first: str | None = None
    last_time: str | None = None
    incomplete = False
    for r in conv.records:
        if isinstance(r.get("time"), str):
            last_time = r["time"]
        role = r["role"]
        if role == "user":
            turns += 1
            if first is None:
                first = str(r.get("content") or "")
        elif role == "assistant":
            model = r.get("model")
            if isinstance(model, str) and model and model not in models:
                models.append(model)
            c = r.get("cost")
            if isinstance(c, int | float) and not isinstance(c, bool):
                cost += c
                priced += 1
            else:
                unpriced += 1
            usage = r.get("usage")
            if isinstance(usage, dict):
                prompt_tokens += _int(usage.get("prompt_tokens"))
                completion_tokens += _int(usage.get("completion_tokens"))
            if r.get("incomplete"):
                incomplete = True
    mtime_iso = _iso(datetime.fromtimestamp(mtime, UTC))
    created = _norm_time(meta.get("created")) or _norm_time(conv.records[0].get("time") if conv.records else None)
    created = created or mtime_iso
    updated = _norm_time(last_time) or created
    profile = meta.get("profile")
    out: dict[str, Any] = {
        "id": conv.path.stem if conv.path is not None else conv.id,
        "created": created,
        "updated": max(updated, created),
        "profile": profile if isinstance(profile, str) else None,
        "model": models[0] if models else None,
        "models": models,
        "turns": turns,
        "messages": len(conv.records),
        "cost": round(cost, 10) if priced else None,
        "unpriced": unpriced,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "first_prompt": shorten(first or ""),
    }
    for key in ("replay_of", "continued_from", "source"):
        if isinstance(meta.get(key), str):
            out[key] = meta[key]
    if incomplete:
        out["incomplete"] = True
    if conv.warnings:
        out["warnings"] = len(conv.warnings)
    return out


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


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


# --- the index --------------------------------------------------------------------------

INDEX_VERSION = 1
INDEX_NAME = "replay-index.json"

# An index entry: [size, mtime_ns, inode, kind, ...] where kind is
#   "ok"      + updated, profile, models, the listing row as JSON text (its ``--json`` output, verbatim)
#   "error"   + the message (a file that cannot be read: shown as a warning)
#   "pending" (an empty file, or only a torn first line: a writer is starting it)
# The row is kept as text so that a warm ``replay --json`` neither parses nor re-encodes it.
Entry = list[Any]


def index_path() -> Path:
    return settings.cache_dir() / INDEX_NAME


def _entry(path: Path, st: os.stat_result) -> Entry:
    key: Entry = [st.st_size, st.st_mtime_ns, st.st_ino]
    s = _summarize_file(path, st)
    if "pending" in s:
        return [*key, "pending"]
    if "error" in s:
        return [*key, "error", s["error"]]
    s["path"] = str(path)
    return [*key, "ok", s["updated"], s["profile"], s["models"], json.dumps(s, ensure_ascii=False)]


def _valid(e: Any, size: int, mtime_ns: int, ino: int) -> bool:
    return (
        isinstance(e, list)
        and len(e) >= 4
        and e[0] == size
        and e[1] == mtime_ns
        and e[2] == ino
        and (
            (
                e[3] == "ok"
                and len(e) == 8
                and isinstance(e[4], str)
                and isinstance(e[6], list)
                and isinstance(e[7], str)
            )
            or (e[3] == "error" and len(e) == 5)
            or (e[3] == "pending" and len(e) == 4)
        )
    )


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` all at once (temp file + rename), 0600.

    Unlike ``jsonl.atomic_write_text`` there is no fsync: this is a cache. After a
    power cut the rename may survive without the data; the index then fails to parse
    and is rebuilt, which is all a lost cache costs.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def row(entry: Entry) -> dict[str, Any] | None:
    """The listing row of an ``ok`` entry, parsed."""
    return json.loads(entry[7]) if entry[3] == "ok" else None


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

    def refresh(self) -> dict[str, Entry]:
        """File name -> entry (see ``Entry``) for every ``*.jsonl`` in the store, brought up to date."""
        old = self._load()
        entries: dict[str, Entry] = {}
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
                cached: Entry = old.get(name)  # type: ignore[assignment]  # checked by _valid
                if _valid(cached, st.st_size, st.st_mtime_ns, st.st_ino):
                    entries[name] = cached
                    continue
                changed = True
                self.read_files += 1
                entries[name] = _entry(Path(item.path), st)
        if changed or len(entries) != len(old):
            self._save(entries)
        return entries

    def _save(self, entries: dict[str, Entry]) -> None:
        data = {"v": INDEX_VERSION, "dir": str(self.directory), "entries": entries}
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


# --- listing ------------------------------------------------------------------------------

_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``7d``, ``12h``, ``30m``, ``2w``, ``90s`` or an ISO date/time -> the cut-off as an index timestamp."""
    now = now or datetime.now(UTC)
    m = _SINCE_RE.match(text)
    if m:
        return _iso(now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()]))
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: cannot read {text!r}", hint="use a duration like 7d, 12h, 30m, 2w or a date like 2025-01-31"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # a bare date or time is local time
    return _iso(dt)


@dataclass(frozen=True)
class Filters:
    model: str | None = None  # exact (case-insensitive) or a glob: gpt-4o*, *mini*
    profile: str | None = None
    since: str | None = None  # index timestamp (see parse_since)
    grep: str | None = None  # case-insensitive text in any message
    limit: int | None = None  # None or 0: all

    def match(self, e: Entry) -> bool:
        """Whether an ``ok`` entry passes every filter but ``grep`` (which needs the file)."""
        if self.profile is not None and e[5] != self.profile:
            return False
        if self.since is not None and e[4] < self.since:
            return False
        if self.model is not None:
            pattern = self.model.lower()
            if not any(fnmatchcase(str(m).lower(), pattern) for m in e[6]):
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
    problems = [f"{name}: {e[4]}" for name, e in sorted(entries.items()) if e[3] == "error"]
    ok = [(e[4], name, e) for name, e in entries.items() if e[3] == "ok"]
    ok.sort(reverse=True)  # newest first; the file name breaks ties
    limit = filters.limit or None
    rows: list[str] = []
    more = False
    needle = filters.grep.casefold() if filters.grep else None
    narrowed = filters.profile is not None or filters.since is not None or filters.model is not None
    for _, name, e in ok:
        if narrowed and not filters.match(e):
            continue
        if needle is not None and not _file_contains(directory / name, needle):
            continue
        if limit is not None and len(rows) >= limit:
            more = True
            break
        rows.append(e[7])
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


# --- show -------------------------------------------------------------------------------


def load(ref: str | None, *, last: bool = False) -> store.Conversation:
    """A conversation by id prefix, path or ``--last``: ``store.load``, as ``ask -c`` uses it."""
    if last or ref is None:
        return store.load(newest())
    return store.load(ref)


@dataclass(frozen=True)
class Message:
    """One message of a transcript, with what ``-v`` shows about a reply."""

    role: str
    content: str
    model: str | None = None
    usage: dict[str, Any] | None = None
    cost: float | None = None
    latency: float | None = None
    incomplete: bool = False
    priced: bool = False  # the record says what the reply cost (``cost`` may still be null: unknown)


def messages(conv: store.Conversation) -> list[Message]:
    out = []
    for r in conv.records:
        usage = r.get("usage") if isinstance(r.get("usage"), dict) else None
        cost = r.get("cost") if isinstance(r.get("cost"), int | float) else None
        latency = r.get("latency") if isinstance(r.get("latency"), int | float) else None
        model = r.get("model") if isinstance(r.get("model"), str) else None
        out.append(
            Message(
                r["role"],
                str(r.get("content") or ""),
                model,
                usage,
                cost,
                latency,
                bool(r.get("incomplete")),
                "cost" in r,
            )
        )
    return out


def reply_stats(
    model: str | None, usage: dict[str, Any] | None, cost: float | None, latency: float | None, *, priced: bool = True
) -> str:
    """``gpt-4o-mini · 12 in / 5 out · $0.00001 · 0.42 s`` (the parts that are known)."""
    parts = []
    if model:
        parts.append(model)
    if usage:
        parts.append(f"{_int(usage.get('prompt_tokens')):,} in / {_int(usage.get('completion_tokens')):,} out")
    else:
        parts.append("usage not recorded")
    if priced or cost is not None:
        parts.append(usd(cost))
    if latency is not None:
        parts.append(f"{latency:.2f} s")
    return " · ".join(parts)


def local_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return dt.astimezone().isoformat(sep=" ", timespec="minutes")[:16]  # strftime is 5x slower


def header_parts(conv: store.Conversation) -> list[str]:
    s = summarize(conv, _mtime(conv.path))
    parts = [local_time(s["created"])]
    if s["profile"]:
        parts.append(f"profile {s['profile']}")
    if s["model"]:
        parts.append(f"model {s['model']}")
    parts.append(f"{s['turns']} turn{'' if s['turns'] == 1 else 's'}")
    if s["cost"] is not None:
        parts.append(usd(s["cost"]) + (" (some replies unpriced)" if s["unpriced"] else ""))
    if s.get("replay_of"):
        parts.append(f"replay of {s['replay_of']}")
    return parts


def _mtime(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path is not None else time.time()
    except OSError:
        return time.time()


def to_text(conv: store.Conversation, *, verbose: bool = False) -> str:
    """Plain text: a header line, then ``[role]`` and the content of each message."""
    lines = [f"conversation {conv.id} · " + " · ".join(header_parts(conv)), ""]
    for m in messages(conv):
        head = f"[{m.role}]"
        if m.role == "assistant":
            if verbose:
                head += " " + reply_stats(m.model, m.usage, m.cost, m.latency, priced=m.priced)
            if m.incomplete:
                head += " (incomplete)"
        lines.append(head)
        lines.append(m.content)
        lines.append("")
    return "\n".join(lines)


def to_markdown(conv: store.Conversation, *, verbose: bool = False) -> str:
    out = [f"# Conversation {conv.id}", "", "*" + " · ".join(header_parts(conv)) + "*", ""]
    for m in messages(conv):
        out.append(f"### {m.role.capitalize()}")
        out.append("")
        notes = []
        if m.role == "assistant" and verbose:
            notes.append(reply_stats(m.model, m.usage, m.cost, m.latency, priced=m.priced))
        if m.incomplete:
            notes.append("incomplete")
        if notes:
            out.append("*" + " · ".join(notes) + "*")
            out.append("")
        out.append(m.content)
        out.append("")
    return "\n".join(out)


def to_json(conv: store.Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "path": str(conv.path) if conv.path else None,
        "summary": summarize(conv, _mtime(conv.path)),
        "meta": conv.meta,
        "messages": conv.records,
        "warnings": conv.warnings,
    }


def to_openai(conv: store.Conversation) -> str:
    """One ``{"messages": [...]}`` line: what OpenAI fine-tuning and evals take (and ``store.load`` reads)."""
    return jsonl.dumps({"messages": conv.messages})


# --- re-run -------------------------------------------------------------------------------------

# Settings of the original that a re-run keeps unless a profile or a flag says otherwise.
CARRIED = ("model", *SAMPLING_KEYS, "params")


@dataclass(frozen=True)
class OldTurn:
    """One user turn of the original and the reply it got (``text`` None: none was saved)."""

    user: str
    text: str | None
    model: str | None = None
    usage: dict[str, Any] | None = None
    cost: float | None = None
    latency: float | None = None


def old_turns(conv: store.Conversation) -> list[OldTurn]:
    """The user turns in order, each with the last assistant reply that followed it."""
    turns: list[OldTurn] = []
    for m in messages(conv):
        if m.role == "user":
            turns.append(OldTurn(m.content, None))
        elif m.role == "assistant" and turns:
            turns[-1] = replace(turns[-1], text=m.content, model=m.model, usage=m.usage, cost=m.cost, latency=m.latency)
    return turns


@dataclass(frozen=True)
class Plan:
    conv: store.Conversation
    profile: Profile
    turns: list[OldTurn]
    notes: tuple[str, ...] = ()


def plan_rerun(conv: store.Conversation, profile_name: str | None, overrides: dict[str, Any]) -> Plan:
    """The profile a re-run uses, and the turns it sends.

    Without ``-p`` the re-run starts from the original: its profile (when it still
    exists), its recorded model and sampling settings (``CARRIED``) and its system
    message. ``-p`` starts from that profile instead (its system prompt, if it has one,
    else the original's). Flags override either. ``base_url``, keys and headers always
    come from the profile and environment, never from the file.
    """
    from . import profiles

    explicit = {k: v for k, v in overrides.items() if v is not None}
    notes: list[str] = []
    turns = old_turns(conv)
    if not turns:
        raise UsageError(f"{conv.id}: no user turns to re-run")
    if profile_name is not None:
        prof = profiles.resolve(profile_name, explicit)
        system = explicit.get("system") or prof.system or conv.system
    else:
        carried = _carried(conv, profiles.validate)
        base = conv.meta.get("profile") if isinstance(conv.meta.get("profile"), str) else None
        merged = {**carried, **explicit}
        try:
            prof = profiles.resolve(base, merged)
        except NotFoundError:
            notes.append(f"profile {base!r} of the original no longer exists; using the default profile")
            prof = profiles.resolve(None, merged)
        system = explicit.get("system") if "system" in explicit else conv.system
    prof = replace(prof, system=system or None)
    return Plan(conv, prof, turns, tuple(notes))


def _carried(conv: store.Conversation, validate: Callable[[str, Any], Any]) -> dict[str, Any]:
    conf = conv.meta.get("settings")
    if not isinstance(conf, dict):
        return {}
    out: dict[str, Any] = {}
    for key in CARRIED:
        value = conf.get(key)
        if value is None or value == [] or value == {}:
            continue
        try:
            validate(key, value)
        except (ValueError, KeyError, TypeError):
            continue  # a hand-edited or foreign value: the profile's applies
        out[key] = value
    return out


@dataclass(frozen=True)
class Estimate:
    """What a whole re-run may cost, before anything is sent.

    A turn's prompt holds every earlier user turn and *new* answer, unknown until they
    arrive: ``prompt_tokens_min`` counts those answers as empty, ``prompt_tokens_max``
    as long as the output allowance (``max_tokens``, or what the context window
    leaves). ``cost_max`` is the bound ``--max-cost`` is checked against; ``cost_expected``
    takes the original's answers as a guide to the new ones' lengths.
    """

    model: str
    turns: int
    prompt_tokens_min: int
    prompt_tokens_max: int | None
    exact: bool
    encoding: str | None
    cost_min: float | None
    cost_max: float | None
    cost_expected: float | None
    context_window: int | None
    max_output: int | None  # per reply

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "turns": self.turns,
            "prompt_tokens_min": self.prompt_tokens_min,
            "prompt_tokens_max": self.prompt_tokens_max,
            "exact": self.exact,
            "encoding": self.encoding,
            "cost_min": _round(self.cost_min),
            "cost_max": _round(self.cost_max),
            "cost_expected": _round(self.cost_expected),
            "context_window": self.context_window,
            "max_output_tokens": self.max_output,
        }


def _counter(
    profile: Profile, exact: bool, warn: Callable[[str], None] | None
) -> tuple[Callable[[list[dict[str, Any]]], int], bool, str | None]:
    """A prompt counter: the UTF-8 upper bound (no tiktoken), or the exact count."""
    from . import tokens

    if not exact:
        return tokens.upper_bound_tokens, False, None
    encoding, is_exact = tokens.encoding_name(profile.model, profile.encoding)
    try:
        tokens.count_messages([{"role": "user", "content": "x"}], profile.model, profile.encoding)  # loads it
    except tokens.EncodingUnavailable as e:
        if warn is not None:
            warn(f"token counts are approximate: {e.message}")
        return tokens.approx_tokens, False, None
    return (lambda ms: tokens.count_messages(ms, profile.model, profile.encoding)), is_exact, encoding


def estimate(plan: Plan, *, exact: bool = False, warn: Callable[[str], None] | None = None) -> Estimate:
    """Price the whole re-run (see ``Estimate``); counting is additive per message."""
    from . import tokens

    prof = plan.profile
    info = tokens.model_info(prof.model, prof.base_url, prof.price, prof.context_window)
    window = info.context_window
    count, is_exact, encoding = _counter(prof, exact, warn)
    base = count([])
    head = count([{"role": "system", "content": prof.system}]) - base if prof.system else 0
    empty_reply = count([{"role": "assistant", "content": ""}]) - base
    n = max(1, prof.n)
    allowance = prof.max_tokens
    p_min = base + head  # prompt of the current turn with every earlier answer empty
    p_exp = base + head  # with the original answers
    total_min = 0
    total_max: int | None = 0
    cost_min: float | None = 0.0
    cost_max: float | None = 0.0
    cost_exp: float | None = 0.0
    for i, t in enumerate(plan.turns):
        user = count([{"role": "user", "content": t.user}]) - base
        if i:
            p_min += empty_reply
            p_exp += empty_reply
        p_min += user
        p_exp += user
        total_min += p_min
        if window is not None and p_min + (allowance or 0) > window:
            raise ContextLengthError(
                f"turn {i + 1} of the re-run is too long for {prof.model}: {'' if is_exact else 'about '}"
                f"{p_min:,} prompt tokens"
                + (f" + {allowance:,} max_tokens" if allowance else "")
                + f" > context window {window:,}",
                hint="re-run fewer turns or use a model with a larger window",
            )
        p_max, turn_max = _upper(info, p_min, i, allowance, window, n)
        total_max = None if total_max is None or p_max is None else total_max + p_max
        cost_min = _add(cost_min, tokens.cost(info.price_for(p_min), p_min, 0))
        cost_max = _add(cost_max, turn_max)
        out_exp = (
            _int(t.usage.get("completion_tokens"))
            if t.usage
            else (count([{"role": "assistant", "content": t.text or ""}]) - base - empty_reply)
        )
        cost_exp = _add(cost_exp, tokens.cost(info.price_for(p_exp), p_exp, out_exp * n))
        p_exp += count([{"role": "assistant", "content": t.text or ""}]) - base - empty_reply
    return Estimate(
        prof.model,
        len(plan.turns),
        total_min,
        total_max,
        is_exact,
        encoding,
        cost_min,
        cost_max,
        cost_exp,
        window,
        allowance,
    )


def _upper(
    info: Any, p_min: int, i: int, allowance: int | None, window: int | None, n: int
) -> tuple[int | None, float | None]:
    """Turn ``i``'s largest prompt and cost: every earlier answer as long as allowed."""
    from . import tokens

    if allowance is not None:
        p_max = p_min + i * allowance  # the history keeps choice 0 only
        if window is not None:
            p_max = min(p_max, max(window - allowance, p_min))
        return p_max, tokens.cost(info.price_for(p_max), p_max, allowance * n)
    if window is None:
        return None, None
    # prompt + output <= window: the cost is highest at one of the two ends.
    price = info.price_for(window)
    ends = [tokens.cost(price, p_min, (window - p_min) * n), tokens.cost(price, window, 0)]
    return window, max(e for e in ends if e is not None) if None not in ends else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 10)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def check_budget(
    plan: Plan, max_cost: float | None, *, exact: bool = False, warn: Callable[[str], None] | None = None
) -> Estimate:
    """The whole re-run's estimate; BudgetError (7) if it could cost more than ``max_cost``.

    The cheap UTF-8 bound is tried first; only when it does not prove the run within
    budget (or an exact figure is wanted) are the tokens counted with tiktoken.
    """
    est = estimate(plan, exact=exact, warn=warn)
    if max_cost is None or _within(est, max_cost) or exact:
        return _budget(est, max_cost, plan)
    return _budget(estimate(plan, exact=True, warn=warn), max_cost, plan)


def _within(est: Estimate, max_cost: float) -> bool:
    return est.cost_max is not None and est.cost_max <= max_cost


def _budget(est: Estimate, max_cost: float | None, plan: Plan) -> Estimate:
    if max_cost is None or _within(est, max_cost):
        return est
    model = plan.profile.model
    if est.cost_min is None:
        raise BudgetError(
            f"--max-cost: price unknown for {model}, so the re-run's cost cannot be bounded",
            hint="set [price] in the profile",
        )
    if est.cost_max is None:
        raise BudgetError(
            f"--max-cost: the output of {model} is unbounded", hint="set --max-tokens to bound each reply"
        )
    label = "" if est.exact else "about "
    raise BudgetError(
        f"this re-run ({est.turns} turn{'s' if est.turns != 1 else ''}) could cost up to {usd(est.cost_max)} "
        f"({label}{est.prompt_tokens_max or est.prompt_tokens_min:,} prompt tokens in all, up to "
        f"{est.max_output or 0:,} output tokens per reply) > --max-cost {usd(max_cost)}",
        hint="lower --max-tokens or raise --max-cost",
    )


@dataclass(frozen=True)
class NewTurn:
    text: str
    model: str
    usage: dict[str, Any] | None
    cost: float | None
    latency: float
    finish_reason: str | None
    incomplete: bool

    @classmethod
    def from_turn(cls, turn: Turn) -> NewTurn:
        c = turn.completion
        return cls(
            c.text,
            c.model,
            c.usage.to_dict() if c.usage else None,
            turn.cost,
            round(c.latency, 4),
            c.finish_reason,
            c.incomplete,
        )


@dataclass(frozen=True)
class TurnStart:
    """A re-run is about to send user turn ``index`` (0-based) of ``total``."""

    index: int
    total: int
    user: str


@dataclass(frozen=True)
class TurnDone:
    index: int
    total: int
    old: OldTurn
    new: NewTurn


@dataclass
class RerunResult:
    conversation_id: str | None
    plan: Plan
    estimate: Estimate | None
    pairs: list[tuple[OldTurn, NewTurn]] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, Any]]:
        """Tokens, cost and latency summed over the turns, old and new."""
        out = {}
        olds = [o for o, _ in self.pairs]
        news = [n for _, n in self.pairs]
        for side, items in (("old", olds), ("new", news)):
            usages = [i.usage for i in items]
            costs = [i.cost for i in items]
            lats = [i.latency for i in items]
            out[side] = {
                "prompt_tokens": sum(_int(u.get("prompt_tokens")) for u in usages if u) if all(usages) else None,
                "completion_tokens": sum(_int(u.get("completion_tokens")) for u in usages if u)
                if all(usages)
                else None,
                "cost": _round(sum(c for c in costs if c is not None)) if costs and None not in costs else None,
                "latency": round(sum(x for x in lats if x is not None), 4) if lats and None not in lats else None,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        conv = self.plan.conv
        return {
            "conversation_id": self.conversation_id,
            "replay_of": conv.id,
            "profile": self.plan.profile.name,
            "model": self.plan.profile.model,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "notes": list(self.plan.notes),
            "turns": [
                {
                    "user": o.user,
                    "old": {
                        "text": o.text,
                        "model": o.model,
                        "usage": o.usage,
                        "cost": o.cost,
                        "latency": o.latency,
                    },
                    "new": {
                        "text": n.text,
                        "model": n.model,
                        "usage": n.usage,
                        "cost": n.cost,
                        "latency": n.latency,
                        "finish_reason": n.finish_reason,
                        "incomplete": n.incomplete,
                    },
                    "same": o.text == n.text,
                }
                for o, n in self.pairs
            ],
            "totals": self.totals(),
        }


def rerun(
    plan: Plan,
    result: RerunResult,
    *,
    max_cost: float | None = None,
    stream: bool = True,
    log: bool = True,
    exact: bool = False,
) -> Generator[Any, None, RerunResult]:
    """Send the plan's user turns in order; yield TurnStart, the Session's events and TurnDone.

    ``result`` is filled as turns finish, so a caller still has the finished turns when a
    later one fails. Each turn is also checked against what is left of ``max_cost``.
    """
    from . import conversation

    conv = plan.conv
    meta: dict[str, Any] = {"replay_of": conv.id}
    if conv.path is not None and conv.path.resolve().parent != store.conversations_dir().resolve():
        meta["replay_source"] = str(conv.path.resolve())
    session = conversation.Session.start(plan.profile, log=log, **meta)
    spent = 0.0
    total = len(plan.turns)
    try:
        for i, old in enumerate(plan.turns):
            yield TurnStart(i, total, old.user)
            remaining = None if max_cost is None else max(max_cost - spent, 0.0)
            turn = yield from session.turn(old.user, stream=stream, max_cost=remaining, exact=exact)
            result.conversation_id = session.conversation_id
            spent += turn.cost or 0.0
            new = NewTurn.from_turn(turn)
            result.pairs.append((old, new))
            yield TurnDone(i, total, old, new)
    finally:
        result.conversation_id = session.conversation_id
        session.close()
    return result


def iter_rows(rows: Iterable[dict[str, Any]]) -> Iterable[list[str]]:
    """Listing rows as table cells: id, date, profile, model, turns, cost, first prompt."""
    for r in rows:
        cost = r.get("cost")
        yield [
            r["id"],
            local_time(r.get("updated")),
            r.get("profile") or "",
            r.get("model") or "",
            str(r.get("turns", 0)),
            "?" if cost is None else usd(cost),
            r.get("first_prompt") or "",
        ]
