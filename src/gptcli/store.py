"""The conversation store: one JSONL file per conversation in the data dir.

Format (documented in docs/log-format.md): the first record is the metadata
(``"type": "meta"``), then one record per message (``"type": "message"``) and the
occasional ``"type": "note"`` (a trimmed history, a dropped parameter). Every record
carries ``"v"``; ``upgrade`` is the one place that reads older versions.

Ids are random hex; any unique prefix names a conversation. A reference that looks
like a path (or names an existing file) is read from there, never written to.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import jsonl, settings
from .errors import ConfigError, NotFoundError, UsageError

VERSION = 1
_ID_RE = re.compile(r"^[0-9a-f]{1,32}$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return secrets.token_hex(6)


def upgrade(record: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a record to the current version; refuse one from a newer gptcli."""
    v = record.get("v", 1)
    if not isinstance(v, int) or v > VERSION:
        raise ConfigError(
            f"{path}: written by a newer gptcli (record version {v}, this one reads {VERSION})",
            hint="upgrade gptcli to read it",
        )
    return record


@dataclass
class Conversation:
    """A loaded conversation: its metadata and its messages, in order."""

    id: str
    path: Path | None
    meta: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)  # message records
    warnings: list[str] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # every note, in order (settings, title...)
    # Every request's record, kept even when undo or retry took it out of the history
    # (it was paid for): the assistant messages and the "error" notes (``gptcli usage``).
    billed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages as the API takes them (role and content, name when set; a tool loop's
        assistant ``tool_calls`` and the tool messages' ``tool_call_id``).

        A user message whose reply failed (``"failed"``, set by ``load``) is history, not
        context: it is left out.
        """
        out = []
        for r in self.records:
            if r.get("failed"):
                continue
            m: dict[str, Any] = {"role": r["role"], "content": r.get("content") or ""}
            if r.get("attachments"):  # the stored bytes back as content parts (README "Attachments")
                from .attachments import stash

                m["content"], missing = stash.join(m["content"], r["attachments"])
                self.warnings.extend(w for w in missing if w not in self.warnings)
            if r.get("name"):
                m["name"] = r["name"]
            if r["role"] == "assistant" and isinstance(r.get("tool_calls"), list) and r["tool_calls"]:
                m["tool_calls"] = r["tool_calls"]  # a tool loop's step: its calls are answered next
                m["content"] = m["content"] or None
            elif r["role"] == "tool":
                m["tool_call_id"] = str(r.get("tool_call_id") or "")
            out.append(m)
        return out

    @property
    def system(self) -> str | None:
        for r in self.records:
            if r["role"] == "system":
                return str(r.get("content") or "")
        return None


def conversations_dir() -> Path:
    return settings.conversations_dir()


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or os.sep in ref or ref.endswith((".jsonl", ".json")) or ref.startswith(".")


def resolve(ref: str | None, *, allow_path: bool = True) -> Path:
    """A conversation reference to a file: None/'last' for the newest, an id prefix, or a path."""
    if ref is None or ref in ("last", "--last"):
        latest = latest_path()
        if latest is None:
            raise NotFoundError("no saved conversations yet", hint="start one with: gptcli ask or gptcli chat")
        return latest
    if _looks_like_path(ref) or (allow_path and Path(ref).is_file()):
        if not allow_path:
            raise UsageError(f"not a conversation id: {ref!r}", hint="ids are hex, as `gptcli replay` lists them")
        path = Path(ref).expanduser()
        if not path.is_file():
            raise NotFoundError(f"no such conversation file: {ref}")
        return path
    ref = ref.lower()
    if not _ID_RE.match(ref):
        raise UsageError(f"not a conversation id: {ref!r}", hint="ids are hex, as `gptcli replay` lists them")
    directory = conversations_dir()
    exact = directory / f"{ref}.jsonl"
    if exact.is_file():
        return exact
    matches = sorted(p for p in _iter_files(directory) if p.stem.startswith(ref))
    if not matches:
        raise NotFoundError(f"no conversation with id {ref}", hint="list them with: gptcli replay")
    if len(matches) > 1:
        shown = ", ".join(p.stem for p in matches[:5])
        raise UsageError(f"id prefix {ref} is ambiguous: {shown}{' ...' if len(matches) > 5 else ''}")
    return matches[0]


def _iter_files(directory: Path) -> Iterable[Path]:
    try:
        with os.scandir(directory) as it:
            for entry in it:
                if entry.name.endswith(".jsonl") and not entry.name.startswith("."):
                    with contextlib.suppress(OSError):
                        if entry.is_file():  # not a FIFO or a device: reading one would hang
                            yield Path(entry.path)
    except FileNotFoundError:
        return


def latest_path() -> Path | None:
    best: tuple[float, str] | None = None
    best_path = None
    for p in _iter_files(conversations_dir()):
        try:
            key = (p.stat().st_mtime, p.name)
        except OSError:
            continue
        if best is None or key > best:
            best, best_path = key, p
    return best_path


def load(ref: str | Path | None, *, allow_path: bool = True) -> Conversation:
    """Load a conversation from the store or from a file (gptcli's own or OpenAI ``{"messages"}`` lines)."""
    path = ref if isinstance(ref, Path) else resolve(ref, allow_path=allow_path)
    bad: list[jsonl.BadLine] = []
    try:
        rows = list(jsonl.read(path, bad))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    warnings = [f"{path.name}: line {b.lineno} skipped ({b.reason})" for b in bad]
    if rows and "messages" in rows[0][1] and rows[0][1].get("type") is None:
        return _from_openai(path, rows, warnings)
    meta: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    billed: list[dict[str, Any]] = []
    for lineno, rec in rows:
        problem = _bad_record(rec)
        if problem is not None:  # one bad record costs that record, not the conversation
            warnings.append(f"{path.name}: line {lineno} skipped ({problem})")
            continue
        rec = upgrade(rec, path)
        kind = rec.get("type")
        if kind == "meta" and meta is None:
            meta = rec
        elif kind == "message":
            if rec.get("role") not in ("system", "user", "assistant", "tool", "developer"):
                warnings.append(f"{path.name}: line {lineno} skipped (unknown role)")
                continue
            if rec.get("role") == "assistant" and records and records[-1].get("failed"):
                records[-1] = _unfailed(records[-1])  # a /retry answered it
            records.append(rec)
            if rec.get("role") == "assistant":
                billed.append(rec)
        elif kind == "note":
            _apply_note(rec, records)
            notes.append(rec)
            if rec.get("kind") == "error":
                billed.append(rec)
        else:
            warnings.append(f"{path.name}: line {lineno} skipped (unknown record type {kind!r})")
    if meta is None:
        if not records:
            raise ConfigError(f"{path}: not a gptcli conversation (no metadata record, no messages)")
        meta = {"type": "meta", "v": VERSION, "id": path.stem}
        warnings.append(f"{path.name}: no metadata record")
    cid = str(meta.get("id") or path.stem)
    return Conversation(cid, path, meta, records, warnings, notes, billed)


FAILED_KINDS = ("error", "interrupted")


def _unfailed(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("failed", "error", "exit_code")}


def _bad_record(rec: dict[str, Any]) -> str | None:
    """Why a record cannot be used as it is (None: it can), repairing multi-part content.

    A version that is not a whole number (``"v": "1"``) says nothing about a newer gptcli;
    a message whose content is an object or a number would be sent to the API as is.
    """
    v = rec.get("v", 1)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        return f"record version {v!r} is not a positive whole number"
    if rec.get("type") == "message":
        content = rec.get("content")
        if isinstance(content, list):
            rec["content"] = _content_text(content)
        elif not isinstance(content, str):
            return f"message content is {type(content).__name__}, not text"
    return None


def _apply_note(note: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Notes that change the history as chat changed it: ``drop`` (undo, retry), ``system``.

    An ``error`` or ``interrupted`` note right after a user message (no reply between)
    marks that message failed: ``"failed": true`` and the ``error`` text, in memory only.
    """
    if note.get("kind") in FAILED_KINDS and records and records[-1].get("role") == "user":
        reason = str(note.get("text") or note.get("kind"))
        failed = {**records[-1], "failed": True, "error": reason.removeprefix("error: ")}
        if isinstance(note.get("exit_code"), int):
            failed["exit_code"] = note["exit_code"]
        records[-1] = failed
    drop = note.get("drop")
    if isinstance(drop, int) and not isinstance(drop, bool) and drop > 0:
        del records[max(0, len(records) - drop) :]
    if note.get("kind") == "system":
        text = note.get("system")
        first = next((i for i, r in enumerate(records) if r.get("role") == "system"), None)
        if not isinstance(text, str) or not text:
            if first is not None:
                del records[first]
        elif first is not None:
            records[first] = {**records[first], "content": text}
        else:
            records.insert(0, {"type": "message", "v": VERSION, "role": "system", "content": text})


def _from_openai(path: Path, rows: list[tuple[int, dict[str, Any]]], warnings: list[str]) -> Conversation:
    messages = rows[0][1].get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise ConfigError(f"{path}: line {rows[0][0]}: 'messages' must be a list of {{role, content}} objects")
    if len(rows) > 1:
        warnings.append(f"{path.name}: {len(rows)} conversations in the file; using the first")
    records = [
        {"type": "message", "v": VERSION, "role": m["role"], "content": _content_text(m.get("content"))}
        for m in messages
    ]
    meta = {"type": "meta", "v": VERSION, "id": path.stem, "source": "openai"}
    return Conversation(path.stem, path, meta, records, warnings)


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of multi-part content."""
    return _content_text(content)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


class Writer:
    """Appends one conversation's records as they happen."""

    def __init__(self, conversation_id: str, path: Path) -> None:
        self.id = conversation_id
        self.path = path
        try:
            self._out = jsonl.Appender(path)
        except OSError as e:
            message = f"cannot write the conversation log {path}: {e.strerror}"
            raise ConfigError(message, hint="or use --no-log") from None

    def _write(self, record: dict[str, Any]) -> None:
        try:
            self._out.write(record)
        except OSError as e:  # a full disk: one clear line, not a traceback
            raise ConfigError(f"cannot write the conversation log {self.path}: {e.strerror}") from None

    def message(self, role: str, content: str | list[Any], names: dict[str, str] | None = None, **extra: Any) -> None:
        """Append a message; multi-part content keeps its text here and its attachments in the
        stash, referred to by hash (``names``: sha256 -> the name the user gave)."""
        if isinstance(content, list):
            from .attachments import stash

            content, refs = stash.split(content, names)
            if refs:
                extra = {"attachments": refs, **extra}
        record: dict[str, Any] = {"v": VERSION, "type": "message", "role": role, "content": content, "time": now_iso()}
        record.update(extra)  # None stays: "cost": null says "price unknown"
        self._write(record)

    def note(self, text: str, **extra: Any) -> None:
        record: dict[str, Any] = {"v": VERSION, "type": "note", "text": text, "time": now_iso()}
        record.update(extra)
        self._write(record)

    def close(self) -> None:
        self._out.close()


def create(profile_name: str, settings_: dict[str, Any], **meta: Any) -> Writer:
    """Start a new conversation file (0600 in a 0700 dir) and write its metadata."""
    from . import __version__

    directory = settings.ensure_private_dir(conversations_dir())
    cid = new_id()
    path = directory / f"{cid}.jsonl"
    writer = Writer(cid, path)
    record: dict[str, Any] = {
        "v": VERSION,
        "type": "meta",
        "id": cid,
        "created": now_iso(),
        "gptcli": __version__,
        "profile": profile_name,
        "settings": settings_,
    }
    record.update({k: v for k, v in meta.items() if v is not None})
    writer._write(record)
    return writer


def reopen(conversation: Conversation) -> Writer:
    """Append to a stored conversation (never to a file outside the store)."""
    path = conversation.path
    directory = conversations_dir().resolve()
    if path is None or path.resolve().parent != directory:
        raise UsageError(f"{path} is not in gptcli's store; it can be read, not continued in place")
    return Writer(conversation.id, path)
