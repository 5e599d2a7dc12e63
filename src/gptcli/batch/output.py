"""What a batch writes: the output records, where they go (a file or stdout, as they
complete or in input order), the progress and summary values, and the resume state
read back from an existing output file.

One output record per item (``"v": 1``)::

    {"id": 3, "line": 3, "input": "...", "model": "gpt-4o-mini", "text": "...",
     "finish_reason": "stop", "usage": {...}, "cost": 0.000012, "latency": 0.84,
     "attempts": 1, "error": null, "v": 1}

With ``-x``/``--extract-all`` an answered record also has ``extract``: the reply's first
code block (every block), or the whole reply when it has none (a list when ``n`` > 1).
``input`` is replaced by ``input_sha256`` with ``--no-input``; ``text`` and
``finish_reason`` are lists when ``n`` > 1; a failed item has ``text`` null and
``error`` = ``{"kind", "message", "status", "code"}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from .. import jsonl
from ..errors import (
    AuthError,
    ConfigError,
    ContextLengthError,
    GptcliError,
    NetworkError,
    NotFoundError,
    RateLimitError,
)
from ..models import Completion
from .input import Item


@dataclass(frozen=True)
class Progress:
    """A snapshot after each record (or each poll of a Batch API batch)."""

    total: int
    done: int
    failed: int
    cost: float
    elapsed: float
    status: str | None = None  # the Batch API batch status while polling


@dataclass(frozen=True)
class ModelSummary:
    """``batch --models``: one model's share of a run."""

    model: str
    done: int
    failed: int
    cost: float | None
    latency: float = 0.0  # summed over its answered records
    prompt_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "done": self.done, "failed": self.failed, "cost": self.cost}


@dataclass(frozen=True)
class Summary:
    total: int  # items this run set out to do
    done: int
    failed: int
    skipped: int
    invalid: int
    cost: float | None
    elapsed: float
    output: str
    retries: int = 0
    interrupted: bool = False
    batch_ids: tuple[str, ...] = ()
    models: tuple[ModelSummary, ...] = ()  # ``--models``: per model, in the order given

    @property
    def missing(self) -> int:
        return max(0, self.total - self.done - self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "cost": self.cost,
            "elapsed": round(self.elapsed, 3),
            "retries": self.retries,
            "interrupted": self.interrupted,
            "output": self.output,
            "batch_ids": list(self.batch_ids),
            **({"models": [m.to_dict() for m in self.models]} if self.models else {}),
        }


# --- records -------------------------------------------------------------------------------------


def input_hash(value: Any) -> str:
    """sha256 of an item's input as canonical JSON (what ``--no-input`` writes)."""
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def short_hash(hex_digest: str) -> int:
    return int(hex_digest[:16], 16)


def key(ident: Any) -> Any:
    """Ids as dict keys: 3 and "3" stay different, as they are in JSON."""
    return ident if isinstance(ident, str | int) and not isinstance(ident, bool) else json.dumps(ident)


def item_key(item: Item) -> Any:
    """An item's key in the resume state: its id, and its model with ``--models``."""
    return key(item.id) if item.target is None else (key(item.id), item.target)


def record_key(rec: dict[str, Any]) -> Any:
    """A record's key in the resume state (``item_key`` of the item it answers)."""
    target = rec.get("target")
    return key(rec["id"]) if not isinstance(target, str) else (key(rec["id"]), target)


def _head(item: Item, no_input: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": item.id, "line": item.line}
    if item.target is not None:
        rec["target"] = item.target  # the --models entry, whatever name the server answers with
    if no_input:
        rec["input_sha256"] = input_hash(item.input)
    else:
        rec["input"] = item.input
    return rec


def success(
    item: Item,
    c: Completion,
    *,
    model: str,
    cost: float | None,
    attempts: int,
    latency: bool,
    no_input: bool,
    extract: list[str] | None = None,
) -> dict[str, Any]:
    """The record of an answered item (``extract``: the code taken from each choice)."""
    rec = _head(item, no_input)
    multi = len(c.texts) > 1
    rec.update(
        model=c.model or model,
        text=list(c.texts) if multi else c.text,
        reasoning=list(c.reasonings) if multi and c.reasonings else c.reasoning,
        **({} if extract is None else {"extract": extract if multi else extract[0]}),
        finish_reason=list(c.finish_reasons) if multi else c.finish_reason,
        usage=c.usage.to_dict() if c.usage is not None else None,
        cost=cost,
        latency=round(c.latency, 4) if latency else None,
        attempts=attempts,
        error=None,
        v=1,
    )
    return rec


def failure(
    item: Item,
    *,
    model: str,
    kind: str,
    message: str,
    attempts: int,
    no_input: bool,
    status: int | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The record of a failed item (``text`` null, ``error`` set)."""
    rec = _head(item, no_input)
    rec.update(
        model=model,
        text=None,
        reasoning=None,
        finish_reason=None,
        usage=None,
        cost=None,
        latency=None,
        attempts=attempts,
        error={"kind": kind, "message": message, "status": status, "code": code},
        v=1,
    )
    return rec


def error_kind(error: GptcliError, status: int | None) -> str:
    """The ``error.kind`` of a record, from the error class the backend chose for the reply."""
    if isinstance(error, ContextLengthError):
        return "context"
    if isinstance(error, RateLimitError):
        return "rate_limit"
    if isinstance(error, AuthError):
        return "auth"
    if isinstance(error, NotFoundError):
        return "not_found"
    if isinstance(error, NetworkError):
        return "server" if status is not None and status >= 500 else "network"
    if status is not None and 400 <= status < 500:
        return "bad_request"
    return "error"


# --- where records go ------------------------------------------------------------------------------


class Sink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class StreamSink:
    """Records to a text stream (stdout), one line each, flushed."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        from .. import jsonl

        self.stream.write(jsonl.dumps(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


@dataclass
class Tally:
    """Counts of what has been written so far."""

    total: int
    done: int = 0
    failed: int = 0
    cost: float = 0.0
    priced: bool = False
    latency: float = 0.0  # seconds, summed over the answered records
    prompt_tokens: int = 0  # summed over the answered records
    by_model: dict[str, Tally] = field(default_factory=dict)  # ``--models``: per target

    def count(self, record: dict[str, Any]) -> None:
        if record.get("error") is None:
            self.done += 1
        else:
            self.failed += 1
        cost = record.get("cost")
        if cost is not None:
            self.cost += cost
            self.priced = True
        if isinstance(record.get("latency"), int | float):
            self.latency += record["latency"]
        usage = record.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            self.prompt_tokens += usage["prompt_tokens"]
        target = record.get("target")
        if isinstance(target, str):
            self.by_model.setdefault(target, Tally(0)).count({**record, "target": None})

    def per_model(self, order: tuple[str, ...]) -> tuple[ModelSummary, ...]:
        """Each model's share, in ``order`` (the --models order)."""
        out = []
        for m in order:
            t = self.by_model.get(m, Tally(0))
            out.append(ModelSummary(m, t.done, t.failed, t.cost if t.priced else None, t.latency, t.prompt_tokens))
        return tuple(out)


class Stop(Exception):
    """Stops the whole batch: every further request would fail the same way, or the
    records cannot be written. ``error`` None: the reader of stdout left (``| head``)."""

    def __init__(self, error: GptcliError | None) -> None:
        super().__init__(str(error))
        self.error = error


class Writer:
    """Writes records as they complete, or in input order with --ordered.

    The order buffer is bounded: the reader may run at most ``window`` items ahead of
    the oldest unwritten one (a semaphore it acquires per item, released here).
    A write that fails (a full disk, ``ulimit -f``, a closed pipe) raises ``Stop``;
    nothing is written after it.
    """

    def __init__(
        self, sink: Sink, tally: Tally, window: asyncio.Semaphore | None, progress: Callable[[Tally], None]
    ) -> None:
        self.sink = sink
        self.tally = tally
        self.window = window
        self.progress = progress
        self.pending: dict[int, dict[str, Any]] = {}
        self.next = 0
        self.stopped = False

    def add(self, seq: int, record: dict[str, Any]) -> None:
        if self.window is None:
            self.write(record)
            return
        self.pending[seq] = record
        while self.next in self.pending:
            self.write(self.pending.pop(self.next))
            self.next += 1
            self.window.release()

    def drain(self) -> None:
        for seq in sorted(self.pending):
            self.write(self.pending.pop(seq))

    def write(self, record: dict[str, Any]) -> None:
        if self.stopped:
            return
        try:
            self.sink.write(record)
        except BrokenPipeError:
            self.stopped = True
            raise Stop(None) from None
        except OSError as e:
            self.stopped = True
            path = getattr(self.sink, "path", None)
            where = str(path) if path is not None else "stdout"
            written = self.tally.done + self.tally.failed
            raise Stop(
                ConfigError(
                    f"cannot write {where}: {e.strerror or e}; {written:,} records are in {where}",
                    hint="make room (disk space, ulimit -f), then run the same command with --resume"
                    if path is not None
                    else None,
                )
            ) from None
        self.tally.count(record)
        self.progress(self.tally)


# --- resume state ----------------------------------------------------------------------------------


@dataclass
class Existing:
    """What an output file already holds, for --resume and --collect."""

    done: dict[Any, int] = field(default_factory=dict)  # id -> short input hash (0: unknown)
    failed: set[Any] = field(default_factory=set)
    untidy: bool = False  # failed records, torn or duplicate lines: rewrite before appending

    def add(self, rec: dict[str, Any]) -> None:
        """Take in one record of the file."""
        k = record_key(rec)
        if rec.get("error") is None and "text" in rec:
            if k in self.done:
                self.untidy = True
                return
            if "input" in rec:
                self.done[k] = short_hash(input_hash(rec["input"]))
            elif isinstance(rec.get("input_sha256"), str):
                self.done[k] = short_hash(rec["input_sha256"])
            else:
                self.done[k] = 0
            self.failed.discard(k)
        else:
            self.untidy = True
            if k not in self.done:
                self.failed.add(k)


def _records(f: IO[bytes]) -> Any:
    """(raw line, record or None) for every non-blank line; None: torn or not a record."""
    for raw in f:
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except ValueError:  # a torn last line from a killed run
            rec = None
        yield raw, rec if isinstance(rec, dict) and "id" in rec else None


def read_existing(path: Path) -> Existing:
    """Stream the output file: which ids are done (and for which input) and which failed."""
    from ..errors import UsageError

    found = Existing()
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return found
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    with f:
        for _, rec in _records(f):
            if rec is None:
                found.untidy = True
            else:
                found.add(rec)
    return found


def tidy_output(path: Path) -> None:
    """Rewrite the output keeping only the first successful record of each id.

    Failed records go (``--resume`` retries those items and appends the new results),
    and so do torn lines and duplicates, so the file ends up with one record per item.
    Atomic: a crash leaves the old file or the new one.
    """
    seen: set[Any] = set()
    with jsonl.replacing(path, mode=None) as out, open(path, "rb") as src:
        for raw, rec in _records(src):
            if rec is None or rec.get("error") is not None or "text" not in rec or record_key(rec) in seen:
                continue
            seen.add(record_key(rec))
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
