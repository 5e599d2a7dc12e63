"""``gptcli batch``: many prompts through a model, at scale. The use case: it never prints.

The flow:

* ``Batch.plan()`` reads the input once, streamed (and with ``--resume`` the existing
  output): it counts items, prompt tokens and the cost range, reports bad lines, and
  enforces ``--strict`` and ``--max-cost`` before anything is sent. Token counts take
  the cheap path first (UTF-8 bytes bound the tokens, no tokenizer); exact counts only
  for ``--dry-run`` or when the bound cannot prove the batch is within ``--max-cost``.
* ``Batch.run()`` reads the input again and sends every item with asyncio: at most
  ``--concurrency`` requests in flight, ``--rpm`` / ``--tpm`` token buckets, retries
  with backoff on 429, 5xx and timeouts (a server's Retry-After pauses every request,
  not only the one that got it). Each result is appended to the output as one JSONL
  line (a single ``write``) the moment it is ready, so a crash loses at most the
  requests in flight, and ``--resume`` picks up from the output itself.
* ``Batch.submit()`` / ``Batch.collect()`` take the same items through OpenAI's Batch API
  and merge its output and error files into the same records.

Progress goes to an ``on_event`` callback as ``Progress`` snapshots and ``Notice``s
(levels ``debug`` < ``info`` < ``note`` < ``warning``); the result is a ``Summary``.

One output record per item (``"v": 1``)::

    {"id": 3, "line": 3, "input": "...", "model": "gpt-4o-mini", "text": "...",
     "finish_reason": "stop", "usage": {...}, "cost": 0.000012, "latency": 0.84,
     "attempts": 1, "error": null, "v": 1}

``input`` is replaced by ``input_sha256`` with ``--no-input``; ``text`` and
``finish_reason`` are lists when ``n`` > 1; a failed item has ``text`` null and
``error`` = ``{"kind", "message", "status", "code"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import batch_input, client, jsonl, tokens
from .batch_input import Invalid, Item, Note
from .errors import (
    APIError,
    AuthError,
    BudgetError,
    ContextLengthError,
    GptcliError,
    Interrupted,
    NetworkError,
    NotFoundError,
    RateLimitError,
    UsageError,
)
from .models import Completion, Notice, Profile

if TYPE_CHECKING:
    from .openai_backend import AsyncChat, BatchAPI, Outcome

VIA = ("local", "openai-batch")
DEFAULT_CONCURRENCY = 8
DEFAULT_RETRIES = 4
# OpenAI bills Batch API requests at half the price of the same synchronous requests.
BATCH_API_DISCOUNT = 0.5
# The Batch API's limits per batch: 50,000 requests and a 200 MB request file.
BATCH_API_MAX_REQUESTS = 50_000
BATCH_API_MAX_BYTES = 190 * 1024 * 1024
# A server asking for a longer pause than this is not asking for a retry.
MAX_RETRY_AFTER = 300.0
# How many bad input lines are reported one by one before only counting them.
MAX_REPORTED_LINES = 20
# Items that fail in a row for a systemic reason (network, rate limit, unknown model)
# before the batch stops instead of writing an error for every remaining item.
MIN_FAILURE_STREAK = 10

Event = Any  # Progress | Notice
EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class Options:
    """Everything about a batch run except the profile (flags parsed by the CLI)."""

    output: Path | None = None  # None: records go to the ``out`` stream (stdout)
    format: str | None = None
    column: str | None = None
    template: str | None = None
    strict: bool = False
    no_input: bool = False
    ordered: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: float | None = None
    tpm: float | None = None
    retries: int = DEFAULT_RETRIES
    resume: bool = False
    overwrite: bool = False
    max_cost: float | None = None
    via: str = "local"


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
class ModelPlan:
    model: str
    items: int
    prompt_tokens: int
    max_output_tokens: int | None  # None: no limit (no max_tokens and no known window)
    cost_min: float | None
    cost_max: float | None
    price_source: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "items": self.items,
            "prompt_tokens": self.prompt_tokens,
            "max_output_tokens": self.max_output_tokens,
            "cost_min": self.cost_min,
            "cost_max": self.cost_max,
            "price_source": self.price_source,
        }


@dataclass(frozen=True)
class Plan:
    """What a batch will send and could cost, before anything is sent."""

    input: str
    format: str
    items: int  # usable items in the input
    invalid: int  # lines that could not be used
    skipped: int  # already in the output (--resume)
    to_send: int
    too_long: int  # items over the context window: written as failed, never sent
    prompt_tokens: int
    tokens: str  # "upper bound", "exact" or "estimate"
    cost_min: float | None
    cost_max: float | None
    models: tuple[ModelPlan, ...]
    via: str
    concurrency: int
    rpm: float | None
    tpm: float | None
    output: str
    first_request: dict[str, Any] | None

    @property
    def min_seconds(self) -> float | None:
        """The least time --rpm / --tpm allow for the whole batch."""
        limits = []
        if self.rpm:
            limits.append(self.to_send / self.rpm * 60)
        if self.tpm:
            limits.append(self.prompt_tokens / self.tpm * 60)
        return max(limits) if limits and self.via == "local" else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "format": self.format,
            "items": self.items,
            "invalid": self.invalid,
            "skipped": self.skipped,
            "to_send": self.to_send,
            "too_long": self.too_long,
            "prompt_tokens": self.prompt_tokens,
            "tokens": self.tokens,
            "cost_min": self.cost_min,
            "cost_max": self.cost_max,
            "models": [m.to_dict() for m in self.models],
            "via": self.via,
            "concurrency": self.concurrency if self.via == "local" else None,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "min_seconds": round(self.min_seconds, 1) if self.min_seconds is not None else None,
            "output": self.output,
            "first_request": self.first_request,
        }


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
    batch_status: str | None = None

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
        }


class _Fatal(Exception):
    """Stops the whole batch: every further request would fail the same way."""

    def __init__(self, error: GptcliError) -> None:
        super().__init__(str(error))
        self.error = error


# --- rate limits -----------------------------------------------------------------------------


class _Bucket:
    """A token bucket refilled continuously at ``per_minute / 60`` per second.

    It holds at most one second's worth (at least one unit), so a per-minute limit is
    spread over the minute rather than spent in a burst at its start; a request larger
    than that waits for a full bucket and then leaves it in debt.
    """

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, amount: float, now: float) -> float:
        self._refill(now)
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount


class Limiter:
    """``--rpm`` and ``--tpm``, and a shared pause when the server says Retry-After.

    Waiters queue in order (a lock), so a large request is not starved by small ones.
    """

    def __init__(self, rpm: float | None, tpm: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        now = clock()
        self.clock = clock
        self.requests = _Bucket(rpm, now) if rpm else None
        self.tokens = _Bucket(tpm, now) if tpm else None
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int = 0) -> None:
        if self.requests is None and self.tokens is None and self.clock() >= self.paused_until:
            return
        async with self._lock:
            while True:
                now = self.clock()
                wait = self.paused_until - now
                if wait <= 0:
                    wait = max(
                        self.requests.wait(1, now) if self.requests else 0.0,
                        self.tokens.wait(tokens, now) if self.tokens else 0.0,
                    )
                    if wait <= 0:
                        if self.requests:
                            self.requests.take(1)
                        if self.tokens:
                            self.tokens.take(tokens)
                        return
                await asyncio.sleep(wait)

    def settle(self, charged: int, actual: int | None) -> None:
        """Charge what a reply used beyond its reservation.

        A reservation is never refunded: OpenAI counts a request's ``max_tokens``
        against the limit when it arrives, whether or not they are used.
        """
        if self.tokens is not None and actual is not None and actual > charged:
            self.tokens.take(actual - charged)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt ``attempt + 1``: the server's word, else exponential with jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(0.5 * 2 ** (attempt - 1), 30.0) * (0.75 + 0.25 * random.random())


# --- the output file -----------------------------------------------------------------------------


def input_hash(value: Any) -> str:
    """sha256 of an item's input as canonical JSON (what ``--no-input`` writes)."""
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _short(hex_digest: str) -> int:
    return int(hex_digest[:16], 16)


@dataclass
class _Existing:
    """What an output file already holds, for --resume and --collect."""

    done: dict[Any, int] = field(default_factory=dict)  # id -> short input hash (0: unknown)
    failed: set[Any] = field(default_factory=set)
    untidy: bool = False  # failed records, torn or duplicate lines: rewrite before appending
    records: int = 0


def _key(ident: Any) -> Any:
    """Ids as dict keys: 3 and "3" stay different, as they are in JSON."""
    return ident if isinstance(ident, str | int) and not isinstance(ident, bool) else json.dumps(ident)


def read_existing(path: Path) -> _Existing:
    """Stream the output file: which ids are done (and for which input) and which failed."""
    found = _Existing()
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return found
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    with f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:  # a torn last line from a killed run
                found.untidy = True
                continue
            if not isinstance(rec, dict) or "id" not in rec:
                found.untidy = True
                continue
            found.records += 1
            key = _key(rec["id"])
            if rec.get("error") is None and "text" in rec:
                if key in found.done:
                    found.untidy = True
                    continue
                if "input" in rec:
                    found.done[key] = _short(input_hash(rec["input"]))
                elif isinstance(rec.get("input_sha256"), str):
                    found.done[key] = _short(rec["input_sha256"])
                else:
                    found.done[key] = 0
                found.failed.discard(key)
            else:
                found.untidy = True
                if key not in found.done:
                    found.failed.add(key)
    return found


def tidy_output(path: Path) -> None:
    """Rewrite the output keeping only the first successful record of each id.

    Failed records go (``--resume`` retries those items and appends the new results),
    and so do torn lines and duplicates, so the file ends up with one record per item.
    Atomic: a crash leaves the old file or the new one.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        seen: set[Any] = set()
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            for raw in src:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or "id" not in rec or rec.get("error") is not None or "text" not in rec:
                    continue
                key = _key(rec["id"])
                if key in seen:
                    continue
                seen.add(key)
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
            out.flush()
            os.fsync(out.fileno())
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _StreamSink:
    """Records to a text stream (stdout), one line each, flushed."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(jsonl.dumps(record) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


# --- the use case --------------------------------------------------------------------------------


def prefetch() -> None:
    """Import the openai backend in a thread while the profile is resolved and the input
    read and priced: ``import openai`` takes 0.3-0.5 s, partly waiting on file reads, so
    the two overlap (measured: 0.37 s instead of 0.52 s for a plan plus the import). Not
    for --dry-run, which never imports openai."""
    import threading

    def load() -> None:
        with contextlib.suppress(Exception):
            client.preload()

    threading.Thread(target=load, name="gptcli-prefetch", daemon=True).start()


class Batch:
    """One batch: a profile, an input (a path, or "-" for stdin) and the options."""

    def __init__(self, profile: Profile, input_ref: str, options: Options) -> None:
        self.profile = profile
        self.opts = options
        self.input_ref = input_ref
        self.name = "stdin" if input_ref == "-" else input_ref
        self.format = batch_input.detect_format(self.name, options.format)
        self.template = batch_input.Template(options.template) if options.template is not None else None
        self._spool: Path | None = None
        self._profiles: dict[str, Profile] = {}
        self._infos: dict[str, tokens.ModelInfo] = {}
        self._existing = _Existing()
        self._notes: set[str] = set()
        self._dropped: dict[str, set[str]] = {}  # model -> parameters the server rejected
        self._renamed: dict[str, str] = {}  # a rejected output-limit name -> the one that worked
        self._emit: EventSink = lambda event: None
        self._started = time.monotonic()
        self._retries = 0
        self._streak = 0
        self._approximate = False
        self._check_options()
        if input_ref != "-":
            path = Path(input_ref)
            if not path.exists():
                raise UsageError(f"no such file: {input_ref}")
            if path.is_dir():
                raise UsageError(f"{input_ref} is a directory")

    def _check_options(self) -> None:
        o = self.opts
        if o.via not in VIA:
            raise UsageError(f"--via must be one of {', '.join(VIA)}, not {o.via!r}")
        if not 1 <= o.concurrency <= 1024:
            raise UsageError("--concurrency must be between 1 and 1024")
        for name, value in (("--rpm", o.rpm), ("--tpm", o.tpm)):
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be more than 0")
        if o.retries < 0:
            raise UsageError("--retries must be 0 or more")
        if o.resume and o.output is None:
            raise UsageError("--resume needs the output file: -o FILE")
        if o.resume and o.overwrite:
            raise UsageError("--resume and --overwrite contradict each other")

    # -- reading ------------------------------------------------------------------------------

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.unlink()
            self._spool = None

    def _open(self) -> IO[bytes]:
        """The input from the start. stdin is copied to a private temp file on first use,
        so it can be read twice (plan, then run) in constant memory."""
        if self.input_ref != "-":
            try:
                return open(self.input_ref, "rb")
            except OSError as e:
                raise UsageError(f"cannot read {self.input_ref}: {e.strerror}") from None
        if self._spool is None:
            fd, name = tempfile.mkstemp(prefix="gptcli-batch-stdin-", suffix=".txt")
            self._spool = Path(name)
            with os.fdopen(fd, "wb") as f:
                stdin = sys.stdin.buffer if sys.stdin is not None else None
                if stdin is not None:
                    shutil.copyfileobj(stdin, f, 1 << 20)
        return open(self._spool, "rb")

    def _entries(self) -> Iterator[batch_input.Entry]:
        with self._open() as stream:
            yield from batch_input.read(stream, self.format, column=self.opts.column, template=self.template)

    def items(self) -> Iterator[Item]:
        """The items still to do (bad lines and --resume's done items left out)."""
        done = self._existing.done
        for entry in self._entries():
            if isinstance(entry, Item) and _key(entry.id) not in done:
                yield entry

    # -- per item -----------------------------------------------------------------------------

    def profile_for(self, item: Item) -> Profile:
        """The run's profile with the item's own settings over it (cached per distinct set)."""
        if not item.overrides:
            return self.profile
        cache_key = json.dumps(item.overrides, sort_keys=True, ensure_ascii=False)
        prof = self._profiles.get(cache_key)
        if prof is None:
            changes = dict(item.overrides)
            if "params" in changes:
                changes["params"] = {**self.profile.params, **changes["params"]}
            prof = replace(self.profile, **changes)
            if len(self._profiles) < 4096:
                self._profiles[cache_key] = prof
        return prof

    @staticmethod
    def messages(item: Item, prof: Profile) -> list[dict[str, Any]]:
        if item.messages is not None:
            if prof.system and not any(m.get("role") in ("system", "developer") for m in item.messages):
                return [{"role": "system", "content": prof.system}, *item.messages]
            return item.messages
        user = {"role": "user", "content": item.prompt}
        return [{"role": "system", "content": prof.system}, user] if prof.system else [user]

    def info(self, prof: Profile) -> tokens.ModelInfo:
        """Price and window of the item's model. The profile's own ``price`` and
        ``context_window`` describe the profile's model, not one an item switches to."""
        found = self._infos.get(prof.model)
        if found is None:
            own = prof.model == self.profile.model
            found = tokens.model_info(
                prof.model,
                prof.base_url,
                prof.price if own else None,
                prof.context_window if own else None,
            )
            self._infos[prof.model] = found
        return found

    def count(self, messages: list[dict[str, Any]], prof: Profile) -> int:
        """Exact prompt tokens; an estimate if no encoding can be loaded."""
        try:
            return tokens.count_messages(messages, prof.model, prof.encoding)
        except tokens.EncodingUnavailable as e:
            if not self._approximate:
                self._approximate = True
                self._note(f"token counts are estimates: {e.message}", "warning")
            return tokens.approx_tokens(messages)

    def _note(self, text: str, level: str = "info") -> None:
        """A notice shown once per run, however many items it concerns."""
        if text not in self._notes:
            self._notes.add(text)
            self._emit(Notice(text, level))

    # -- plan -----------------------------------------------------------------------------------

    def plan(self, *, exact: bool = False, on_event: EventSink | None = None, check_budget: bool = True) -> Plan:
        """Read the input (and the output with --resume); count, price and check it all.

        Raises UsageError (--strict and a bad line, an output that exists without
        --resume, a resumed output written for another input) and BudgetError
        (--max-cost), all before anything is sent.
        """
        if on_event is not None:
            self._emit = on_event
        self._check_output()
        if self.opts.resume and self.opts.output is not None:
            self._existing = read_existing(self.opts.output)
        plan = self._scan(exact=exact, report=True)
        limit = self.opts.max_cost
        if limit is not None and not exact and (plan.cost_max is None or plan.cost_max > limit):
            plan = self._scan(exact=True, report=False)  # the bound was not enough: count
        if check_budget:
            self.check_budget(plan)
        return plan

    def _check_output(self) -> None:
        out = self.opts.output
        if out is None:
            return
        if out.is_dir():
            raise UsageError(f"-o {out} is a directory")
        if not out.parent.is_dir():
            raise UsageError(f"-o {out}: no such directory {out.parent}")
        if self.input_ref != "-" and out.exists() and out.samefile(self.input_ref):
            raise UsageError("-o names the input file; write the results somewhere else")
        if out.exists() and out.stat().st_size > 0 and not (self.opts.resume or self.opts.overwrite):
            raise UsageError(
                f"{out} already exists",
                hint="add --resume to continue it, --overwrite to start over, or pick another -o",
            )

    def check_budget(self, plan: Plan) -> None:
        """BudgetError (exit 7) if --max-cost is set and the plan could cost more."""
        limit = self.opts.max_cost
        if limit is None:
            return
        label = "about " if plan.tokens != "exact" else ""
        if any(m.price_source is None for m in plan.models):
            unknown = next(m.model for m in plan.models if m.price_source is None)
            raise BudgetError(
                f"--max-cost: price unknown for {unknown}, so the cost cannot be bounded",
                hint="set [price] in the profile",
            )
        if plan.cost_max is None:
            raise BudgetError(
                "--max-cost: the output is unbounded, so the cost cannot be bounded",
                hint="set --max-tokens",
            )
        if plan.cost_max > limit:
            raise BudgetError(
                f"this batch could cost up to ${plan.cost_max:.4f} ({plan.to_send:,} items, {label}"
                f"{plan.prompt_tokens:,} prompt tokens + the output allowance) > --max-cost ${limit:g}",
                hint="lower --max-tokens, split the input, or raise --max-cost",
            )

    def _scan(self, *, exact: bool, report: bool) -> Plan:
        items = invalid = skipped = too_long = prompt_total = 0
        reported = 0
        first: dict[str, Any] | None = None
        mismatch: tuple[Item, int] | None = None
        mismatches = 0
        # (model, price) -> [items, prompt tokens, output allowance or None]
        groups: dict[tuple[str, Any], list[Any]] = {}
        done = self._existing.done
        all_exact = True
        for entry in self._entries():
            if isinstance(entry, Invalid):
                invalid += 1
                where = f"{self.name}:{entry.line}"
                if self.opts.strict:
                    raise UsageError(f"{where}: {entry.reason}", hint="fix the line, or drop --strict to skip it")
                if report:
                    reported += 1
                    if reported <= MAX_REPORTED_LINES:
                        self._emit(Notice(f"{where}: skipped: {entry.reason}", "warning"))
                continue
            if isinstance(entry, Note):
                if report:
                    self._note(f"{self.name}:{entry.line}: {entry.text}", "warning")
                continue
            item = entry
            items += 1
            key = _key(item.id)
            if key in done:
                skipped += 1
                recorded = done[key]
                if recorded and recorded != _short(input_hash(item.input)):
                    mismatches += 1
                    mismatch = mismatch or (item, recorded)
                continue
            prof = self.profile_for(item)
            msgs = self.messages(item, prof)
            info = self.info(prof)
            window = info.context_window
            reserve = prof.max_tokens or 0
            if exact:
                n_tokens = self.count(msgs, prof)
                all_exact = all_exact and not self._approximate and tokens.encoding_name(prof.model, prof.encoding)[1]
            else:
                n_tokens = tokens.upper_bound_tokens(msgs, model=prof.model)
            if window is not None and n_tokens + reserve > window:
                if not exact:
                    n_tokens = self.count(msgs, prof)
                if n_tokens + reserve > window:
                    too_long += 1
                    continue
            prompt_total += n_tokens
            allowance = prof.max_tokens if prof.max_tokens is not None else (window - n_tokens if window else None)
            price = info.price_for(n_tokens)
            group = groups.get((prof.model, price))
            if group is None:
                group = groups[(prof.model, price)] = [0, 0, 0]
            group[0] += 1
            group[1] += n_tokens
            if allowance is None or group[2] is None:
                group[2] = None
            else:
                group[2] += allowance * max(1, prof.n)
            if first is None:
                first = self._preview(prof, msgs)
        if mismatch is not None:
            item, _ = mismatch
            raise UsageError(
                f"--resume: {mismatches:,} item(s) in {self.opts.output} were answered for other input "
                f"(first: id {item.id!r}, line {item.line}); the input changed, or the output belongs to another run",
                hint="use a new -o file, or delete those records",
            )
        if report and reported > MAX_REPORTED_LINES:
            more = reported - MAX_REPORTED_LINES
            self._emit(Notice(f"{more:,} more bad line{'s' if more > 1 else ''} skipped", "warning"))
        models = self._model_plans(groups)
        lows = [m.cost_min for m in models]
        highs = [m.cost_max for m in models]
        label = "upper bound" if not exact else ("exact" if all_exact else "estimate")
        return Plan(
            input=self.name,
            format=self.format,
            items=items,
            invalid=invalid,
            skipped=skipped,
            to_send=items - skipped,
            too_long=too_long,
            prompt_tokens=prompt_total,
            tokens=label,
            cost_min=_total(lows),
            cost_max=_total(highs),
            models=models,
            via=self.opts.via,
            concurrency=self.opts.concurrency,
            rpm=self.opts.rpm,
            tpm=self.opts.tpm,
            output=str(self.opts.output) if self.opts.output is not None else "stdout",
            first_request=first,
        )

    def _model_plans(self, groups: dict[tuple[str, Any], list[Any]]) -> tuple[ModelPlan, ...]:
        discount = BATCH_API_DISCOUNT if self.opts.via == "openai-batch" else 1.0
        merged: dict[str, list[Any]] = {}
        for (model, price), (count, prompt, out) in groups.items():
            lo = tokens.cost(price, prompt, 0)
            hi = tokens.cost(price, prompt, out) if out is not None else None
            m = merged.setdefault(model, [0, 0, 0, 0.0, 0.0, True])
            m[0] += count
            m[1] += prompt
            m[2] = None if out is None or m[2] is None else m[2] + out
            m[3] = None if lo is None or m[3] is None else m[3] + lo * discount
            m[4] = None if hi is None or m[4] is None else m[4] + hi * discount
        plans = []
        for model, (count, prompt, out, lo, hi, _) in merged.items():
            own = model == self.profile.model
            info = self._infos.get(model)
            source = info.source if info is not None else None
            if own and self.profile.price is not None:
                source = "profile"
            plans.append(ModelPlan(model, count, prompt, out, lo, hi, source if lo is not None else None))
        return tuple(plans)

    def _preview(self, prof: Profile, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        built = client.build_body(prof, msgs, stream=False)
        base = (prof.base_url or "https://api.openai.com/v1").rstrip("/")
        return {"method": "POST", "url": base + "/chat/completions", "body": built.body, "notes": list(built.notes)}

    # -- records --------------------------------------------------------------------------------

    def _record(self, item: Item) -> dict[str, Any]:
        rec: dict[str, Any] = {"id": item.id, "line": item.line}
        if self.opts.no_input:
            rec["input_sha256"] = input_hash(item.input)
        else:
            rec["input"] = item.input
        return rec

    def _success(
        self, item: Item, prof: Profile, c: Completion, attempts: int, *, discount: float = 1.0, latency: bool = True
    ) -> dict[str, Any]:
        rec = self._record(item)
        multi = len(c.texts) > 1
        usage = c.usage
        cost = None
        if usage is not None:
            price = self.info(prof).price_for(usage.prompt_tokens)
            cost = tokens.cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            if cost is not None:
                cost = round(cost * discount, 10)
        rec.update(
            model=c.model or prof.model,
            text=list(c.texts) if multi else c.text,
            finish_reason=list(c.finish_reasons) if multi else c.finish_reason,
            usage=usage.to_dict() if usage is not None else None,
            cost=cost,
            latency=round(c.latency, 4) if latency else None,
            attempts=attempts,
            error=None,
            v=1,
        )
        return rec

    def _failure(
        self,
        item: Item,
        prof: Profile,
        kind: str,
        message: str,
        attempts: int,
        *,
        status: int | None = None,
        code: str | None = None,
        latency: float | None = None,
    ) -> dict[str, Any]:
        rec = self._record(item)
        rec.update(
            model=prof.model,
            text=None,
            finish_reason=None,
            usage=None,
            cost=None,
            latency=round(latency, 4) if latency is not None else None,
            attempts=attempts,
            error={"kind": kind, "message": message, "status": status, "code": code},
            v=1,
        )
        return rec

    # -- the local run ----------------------------------------------------------------------------

    def _sink(self, out: IO[str] | None) -> Any:
        path = self.opts.output
        if path is None:
            return _StreamSink(out or sys.stdout)
        if self.opts.overwrite:
            with open(path, "wb"):
                pass
        elif self.opts.resume and self._existing.untidy:
            tidy_output(path)
        try:
            return jsonl.Appender(path)
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror}") from None

    def run(self, plan: Plan, on_event: EventSink, out: IO[str] | None = None) -> Summary:
        """Send every item still to do; append a record for each as it completes.

        Returns the Summary, also when interrupted (``interrupted`` is then True: what
        was written is complete, in-flight requests were abandoned). Raises the error
        that stopped the batch early (a rejected key, no quota, a dead server).
        """
        self._emit = on_event
        key = client.api_key(self.profile)
        if self.opts.tpm:
            self._warm_up()
        sink = self._sink(out)
        self._started = time.monotonic()
        state = _RunState(total=plan.to_send)
        try:
            interrupted = _run_loop(lambda: self._main(sink, key, state))
        finally:
            sink.close()
        if state.fatal is not None:
            raise state.fatal
        return Summary(
            total=plan.to_send,
            done=state.done,
            failed=state.failed,
            skipped=plan.skipped,
            invalid=plan.invalid,
            cost=state.cost if state.priced else None,
            elapsed=time.monotonic() - self._started,
            output=plan.output,
            retries=self._retries,
            interrupted=interrupted,
        )

    def _warm_up(self) -> None:
        """Load the encoding before the clock starts, so --tpm counts cost microseconds."""
        with contextlib.suppress(GptcliError):
            tokens.count_messages([{"role": "user", "content": "x"}], self.profile.model, self.profile.encoding)

    async def _main(self, sink: Any, key: str, state: _RunState) -> None:
        o = self.opts
        sender = client.async_chat(self.profile, key)
        limiter = Limiter(o.rpm, o.tpm)
        queue: asyncio.Queue[tuple[int, Item] | None] = asyncio.Queue(maxsize=o.concurrency)
        window = asyncio.Semaphore(max(4 * o.concurrency, 64)) if o.ordered else None
        writer = _Writer(sink, state, window, self._progress)

        async def produce() -> None:
            seq = 0
            since_yield = 0
            done = self._existing.done
            for entry in self._entries():
                if not isinstance(entry, Item):
                    continue
                if _key(entry.id) in done:
                    since_yield += 1
                    if since_yield >= 2000:  # keep signals responsive while skipping
                        since_yield = 0
                        await asyncio.sleep(0)
                    continue
                if window is not None:
                    await window.acquire()
                await queue.put((seq, entry))
                seq += 1
            for _ in range(o.concurrency):
                await queue.put(None)

        async def work() -> None:
            while (job := await queue.get()) is not None:
                seq, item = job
                writer.add(seq, await self._one(item, sender, limiter))

        tasks = [asyncio.ensure_future(produce())] + [asyncio.ensure_future(work()) for _ in range(o.concurrency)]
        try:
            await asyncio.gather(*tasks)
        except _Fatal as e:
            state.fatal = e.error
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            writer.drain()  # --ordered: results held back for order are written, not lost
            await sender.aclose()

    def _progress(self, state: _RunState) -> None:
        self._emit(Progress(state.total, state.done, state.failed, state.cost, time.monotonic() - self._started))

    async def _one(self, item: Item, sender: AsyncChat, limiter: Limiter) -> dict[str, Any]:
        """One item, retries included: its output record."""
        prof = self.profile_for(item)
        msgs = self.messages(item, prof)
        built = client.build_body(prof, msgs, stream=False)
        body = built.body
        for note in built.notes:
            self._note(f"{prof.model}: {note}")
        for param in self._dropped.get(prof.model, ()):
            if param in self._renamed and param in body:
                body[self._renamed[param]] = body.pop(param)
            else:
                body.pop(param, None)
        reserve = (prof.max_tokens or 0) * max(1, prof.n)
        window = self.info(prof).context_window
        if window is not None and tokens.upper_bound_tokens(msgs, model=prof.model) + (prof.max_tokens or 0) > window:
            counted = self.count(msgs, prof)
            if counted + (prof.max_tokens or 0) > window:
                self._streak = 0
                return self._failure(
                    item,
                    prof,
                    "context",
                    f"too long for {prof.model}: {counted:,} prompt tokens"
                    + (f" + {prof.max_tokens:,} max_tokens" if prof.max_tokens else "")
                    + f" > context window {window:,} (not sent)",
                    0,
                )
        charge = self.count(msgs, prof) + reserve if limiter.tokens is not None else 0
        attempts = 0
        rejected: set[str] = set()
        while True:
            attempts += 1
            await limiter.acquire(charge)
            outcome = await sender.send(body)
            c = outcome.completion
            if c is not None:
                limiter.settle(charge, c.usage.total_tokens if c.usage else None)
                self._streak = 0
                return self._success(item, prof, c, attempts)
            error = outcome.error
            assert error is not None
            if self._second_chance(error, body, prof, rejected):
                continue
            if isinstance(error, AuthError) or outcome.code == "insufficient_quota":
                raise _Fatal(error)
            wait = backoff(attempts, outcome.retry_after)
            if outcome.retryable and attempts <= self.opts.retries and wait <= MAX_RETRY_AFTER:
                if outcome.status == 429:
                    limiter.pause(wait)  # the whole account is limited, not this one request
                self._retries += 1
                why = error.message.replace(" after retries", "")
                self._emit(Notice(f"item {item.id!r}: {why}; retry {attempts} in {wait:.1f} s", "debug"))
                await asyncio.sleep(wait)
                continue
            return self._failed_attempt(item, prof, outcome, attempts)

    def _second_chance(self, error: GptcliError, body: dict[str, Any], prof: Profile, rejected: set[str]) -> bool:
        """A 400 naming a parameter: drop it (or rename the output limit) for this and
        every later item of that model, and try again."""
        if not isinstance(error, APIError):
            return False
        param = client.second_chance(error, body)
        if param is None or param in rejected or len(rejected) >= 3:
            return False
        rejected.add(param)
        other = {"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}.get(param)
        if other and other not in body and error.code == "unsupported_parameter":
            body[other] = body.pop(param)
            self._dropped.setdefault(prof.model, set()).add(param)
            self._renamed[param] = other
            self._note(f"the server rejected {param!r} for {prof.model}; sending {other!r} instead", "warning")
            return True
        body.pop(param)
        self._dropped.setdefault(prof.model, set()).add(param)
        self._note(f"the server rejected {param!r} for {prof.model} ({error.code}); sending without it", "warning")
        return True

    def _failed_attempt(self, item: Item, prof: Profile, outcome: Outcome, attempts: int) -> dict[str, Any]:
        error = outcome.error
        assert error is not None
        kind = error_kind(error, outcome.status)
        systemic = kind in ("network", "server", "rate_limit", "not_found")
        self._streak = self._streak + 1 if systemic else 0
        if self._streak >= max(MIN_FAILURE_STREAK, 2 * self.opts.concurrency):
            raise _Fatal(
                type(error)(
                    f"stopped after {self._streak} items in a row failed: {error.message}",
                    hint="fix the cause, then --resume to continue",
                )
            )
        message = error.message.replace(" after retries", "") + (
            f" (after {attempts} attempts)" if attempts > 1 else ""
        )
        return self._failure(item, prof, kind, message, attempts, status=outcome.status, code=outcome.code)

    # -- OpenAI's Batch API ---------------------------------------------------------------------------

    def submit(self, plan: Plan, on_event: EventSink) -> list[str]:
        """Write the request file(s), upload them and create the batches; their ids."""
        self._emit = on_event
        api = client.batch_api(self.profile, client.api_key(self.profile))
        if self.opts.resume and self.opts.output is not None and self._existing.untidy:
            tidy_output(self.opts.output)
        ids: list[str] = []
        with tempfile.TemporaryDirectory(prefix="gptcli-batch-") as tmp:
            for path, count in self._request_files(Path(tmp)):
                file_id = api.upload(path)
                created = api.create(file_id, {"gptcli_input": self.name[-500:]})
                ids.append(created["id"])
                self._emit(Notice(f"submitted {created['id']} ({count:,} requests)", "note"))
        return ids

    def _request_files(self, directory: Path) -> Iterator[tuple[Path, int]]:
        """Batch API request files (custom_id, method, url, body), each within the limits."""
        part = 0
        f: IO[bytes] | None = None
        path = directory / "requests-0.jsonl"
        count = size = 0
        seen: set[str] = set()
        try:
            for item in self.items():
                prof = self.profile_for(item)
                body = client.build_body(prof, self.messages(item, prof), stream=False).body
                custom_id = str(item.id)
                line = (
                    jsonl.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})
                    + "\n"
                ).encode("utf-8")
                if f is not None and (count >= BATCH_API_MAX_REQUESTS or size + len(line) > BATCH_API_MAX_BYTES):
                    f.close()
                    f = None
                    yield path, count
                    part += 1
                    path = directory / f"requests-{part}.jsonl"
                    count = size = 0
                    seen.clear()
                if custom_id in seen:
                    raise UsageError(f"{self.name}:{item.line}: id {item.id!r} again; the Batch API needs unique ids")
                seen.add(custom_id)
                if f is None:
                    f = open(path, "wb")  # noqa: SIM115
                f.write(line)
                count += 1
                size += len(line)
            if f is not None:
                f.close()
                f = None
                yield path, count
        finally:
            if f is not None:
                f.close()

    def wait(self, api: BatchAPI, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Poll until every batch is finished; Progress on the way. Ctrl-C stops waiting
        (the batches keep running at the server)."""
        batches: dict[str, dict[str, Any]] = {}
        delay = 1.0
        terminal = ("completed", "failed", "expired", "cancelled")
        try:
            while True:
                for batch_id in ids:
                    if batches.get(batch_id, {}).get("status") not in terminal:
                        batches[batch_id] = api.retrieve(batch_id)
                counts = [b.get("request_counts") or {} for b in batches.values()]
                statuses = sorted({str(b.get("status")) for b in batches.values()})
                self._emit(
                    Progress(
                        sum(c.get("total") or 0 for c in counts),
                        sum(c.get("completed") or 0 for c in counts),
                        sum(c.get("failed") or 0 for c in counts),
                        0.0,
                        time.monotonic() - self._started,
                        status="/".join(statuses),
                    )
                )
                if all(b.get("status") in terminal for b in batches.values()):
                    return batches
                time.sleep(delay)
                delay = min(delay * 1.5, 60.0)
        except KeyboardInterrupt:
            joined = ",".join(ids)
            raise Interrupted(
                f"stopped waiting; batch {joined} keeps running at the server",
                hint=f"collect it later: gptcli batch {self.input_ref} --collect {joined}"
                + (f" -o {self.opts.output}" if self.opts.output else ""),
            ) from None

    def collect(self, ids: list[str], on_event: EventSink, out: IO[str] | None = None) -> Summary:
        """Wait for the batches, download their output and error files, and append a record
        for every item they hold that the output does not have yet (so collecting twice
        writes nothing twice). Records come in input order."""
        self._emit = on_event
        self._started = time.monotonic()
        if self.opts.output is not None:
            self._check_output_for_collect()
            self._existing = read_existing(self.opts.output)
        api = client.batch_api(self.profile, client.api_key(self.profile))
        batches = self.wait(api, ids)
        have = set(self._existing.done) | self._existing.failed
        state = _RunState(total=0)
        invalid = 0
        sink = _StreamSink(out or sys.stdout) if self.opts.output is None else jsonl.Appender(self.opts.output)
        try:
            with tempfile.TemporaryDirectory(prefix="gptcli-collect-") as tmp:
                for batch_id, batch in batches.items():
                    requested, results = self._download(api, batch, Path(tmp))
                    state.total += len(requested)
                    status = str(batch.get("status"))
                    reason = _batch_errors(batch)
                    invalid = 0
                    for entry in self._entries():
                        if isinstance(entry, Invalid):
                            invalid += 1
                        if not isinstance(entry, Item):
                            continue
                        cid = str(entry.id)
                        if cid not in requested or _key(entry.id) in have:
                            continue
                        have.add(_key(entry.id))
                        prof = self.profile_for(entry)
                        result = results.pop(cid, None)
                        if result is not None and result.completion is not None:
                            rec = self._success(
                                entry, prof, result.completion, 1, discount=BATCH_API_DISCOUNT, latency=False
                            )
                        elif result is not None:
                            kind = error_kind(None, result.status, result.code)
                            rec = self._failure(
                                entry, prof, kind, result.message or "failed", 1, status=result.status, code=result.code
                            )
                        else:
                            why = f"no result: batch {batch_id} is {status}" + (f" ({reason})" if reason else "")
                            rec = self._failure(entry, prof, "batch", why, 1)
                        sink.write(rec)
                        state.count(rec)
                        self._progress(state)
                    for cid in list(results)[:5]:
                        self._note(f"batch {batch_id}: a result for {cid!r}, not an item of {self.name}", "warning")
        finally:
            sink.close()
        return Summary(
            total=state.total,
            done=state.done,
            failed=state.failed,
            skipped=0,
            invalid=invalid,
            cost=state.cost if state.priced else None,
            elapsed=time.monotonic() - self._started,
            output=str(self.opts.output) if self.opts.output is not None else "stdout",
            batch_ids=tuple(ids),
            batch_status="/".join(sorted({str(b.get("status")) for b in batches.values()})),
        )

    def _check_output_for_collect(self) -> None:
        out = self.opts.output
        assert out is not None
        if out.is_dir() or not out.parent.is_dir():
            raise UsageError(f"-o {out}: not a writable file path")

    @staticmethod
    def _download(api: BatchAPI, batch: dict[str, Any], tmp: Path) -> tuple[set[str], dict[str, Any]]:
        """The custom_ids a batch was asked for, and its results by custom_id."""
        requested: set[str] = set()
        results: dict[str, Any] = {}
        input_id = batch.get("input_file_id")
        if input_id:
            path = tmp / f"{batch['id']}-input.jsonl"
            api.download(input_id, path)
            requested.update(api.custom_ids(path))
        for key in ("output_file_id", "error_file_id"):
            file_id = batch.get(key)
            if not file_id:
                continue
            path = tmp / f"{batch['id']}-{key}.jsonl"
            api.download(file_id, path)
            for result in api.results(path):
                if result.custom_id is not None and result.custom_id not in results:
                    results[result.custom_id] = result
        return requested, results


def _total(values: list[float | None]) -> float | None:
    """The sum, or None if any part is unknown."""
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def _batch_errors(batch: dict[str, Any]) -> str | None:
    errors = batch.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    if isinstance(data, list) and data:
        first = data[0] if isinstance(data[0], dict) else {}
        return str(first.get("message") or first.get("code") or "failed")
    return None


def error_kind(error: GptcliError | None, status: int | None, code: str | None = None) -> str:
    """The ``error.kind`` of a record: what failed, in one word."""
    if isinstance(error, ContextLengthError) or code == "context_length_exceeded":
        return "context"
    if isinstance(error, RateLimitError) or status == 429:
        return "rate_limit"
    if isinstance(error, AuthError) or status in (401, 403):
        return "auth"
    if isinstance(error, NotFoundError) or status == 404:
        return "not_found"
    if status is not None and status >= 500:
        return "server"
    if isinstance(error, NetworkError):
        return "network"
    if status is not None and 400 <= status < 500:
        return "bad_request"
    return "error"


@dataclass
class _RunState:
    total: int
    done: int = 0
    failed: int = 0
    cost: float = 0.0
    priced: bool = False
    fatal: GptcliError | None = None

    def count(self, record: dict[str, Any]) -> None:
        if record.get("error") is None:
            self.done += 1
        else:
            self.failed += 1
        cost = record.get("cost")
        if cost is not None:
            self.cost += cost
            self.priced = True


class _Writer:
    """Writes records as they complete, or in input order with --ordered.

    The order buffer is bounded: the reader may run at most ``window`` items ahead of
    the oldest unwritten one (a semaphore it acquires per item, released here).
    """

    def __init__(
        self,
        sink: Any,
        state: _RunState,
        window: asyncio.Semaphore | None,
        progress: Callable[[_RunState], None],
    ) -> None:
        self.sink = sink
        self.state = state
        self.window = window
        self.progress = progress
        self.pending: dict[int, dict[str, Any]] = {}
        self.next = 0

    def add(self, seq: int, record: dict[str, Any]) -> None:
        if self.window is None:
            self._write(record)
            return
        self.pending[seq] = record
        while self.next in self.pending:
            self._write(self.pending.pop(self.next))
            self.next += 1
            self.window.release()

    def drain(self) -> None:
        for seq in sorted(self.pending):
            self._write(self.pending.pop(seq))

    def _write(self, record: dict[str, Any]) -> None:
        self.sink.write(record)
        self.state.count(record)
        self.progress(self.state)


def _run_loop(make: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run the coroutine on a fresh event loop; SIGINT and SIGTERM cancel it cleanly.

    Returns True if it was interrupted. The signal handlers in place before (cli.main's
    SIGTERM -> KeyboardInterrupt) are restored afterwards.
    """
    loop = asyncio.new_event_loop()
    interrupted = False
    main = loop.create_task(make())

    def on_signal() -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            main.cancel()

    installed: list[tuple[signal.Signals, Any]] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous = signal.getsignal(sig)
            loop.add_signal_handler(sig, on_signal)
            installed.append((sig, previous))
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            pass
    try:
        loop.run_until_complete(main)
    except asyncio.CancelledError:
        interrupted = True
    except KeyboardInterrupt:
        interrupted = True
        main.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(main)
    finally:
        for sig, previous in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
                signal.signal(sig, previous)
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return interrupted
