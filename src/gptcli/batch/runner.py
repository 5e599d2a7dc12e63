"""The local run: every item still to do sent from here with asyncio, at most
``--concurrency`` requests in flight, within the ``--rpm`` / ``--tpm`` limits, with
retries and backoff on 429, 5xx and timeouts (a server's Retry-After pauses every
request, not only the one that got it). Each record is appended the moment it is
ready, so a crash loses at most the requests in flight and ``--resume`` picks up
from the output itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import IO, TYPE_CHECKING, Any

from .. import budget, client, jsonl, spend
from ..errors import APIError, AuthError, BudgetError, GptcliError, UsageError
from ..models import Notice, Profile
from .input import Item
from .limits import MAX_RETRY_AFTER, Limiter, backoff
from .output import Progress, Sink, Stop, StreamSink, Summary, Tally, Writer, error_kind, item_key, tidy_output
from .tooling import STEPS_KIND, Steps

if TYPE_CHECKING:
    # Outcome moves to gptcli.models with the backend seam (issue 13, item 1); import it from there then.
    from ..backend import AsyncChat
    from ..models import Outcome
    from .job import Batch
    from .plan import Plan

# Items that fail in a row for a systemic reason (network, rate limit, unknown model)
# before the batch stops instead of writing an error for every remaining item.
MIN_FAILURE_STREAK = 10


def run(job: Batch, plan: Plan, out: IO[str] | None = None) -> Summary:
    """Send every item still to do; append a record for each as it completes.

    Returns the Summary, also when interrupted (``interrupted`` is then True: what
    was written is complete, in-flight requests were abandoned). Raises the error
    that stopped the batch early (a rejected key, no quota, a dead server).
    """
    api_key = client.api_key(job.profile)
    if job.opts.tpm:
        _warm_up(job)
    sink = open_sink(job, out)
    job.started = time.monotonic()
    runner = _Runner(job, Tally(total=plan.to_send))
    try:
        interrupted = run_loop(lambda: runner.main(sink, api_key))
    finally:
        sink.close()
    t = runner.tally
    written = f"{t.done + t.failed:,} records are in {plan.output}"
    if runner.fatal is not None:
        if (
            runner.streak_stop is not None and runner.fatal is runner.streak_stop.error
        ):  # the counts said match the file: every failed item has its record
            runner.fatal.message += f"; {written}"
        raise runner.fatal
    if runner.reader_gone:
        raise BrokenPipeError  # cli.run: the reader went away, which is not an error
    last = runner.last_error
    if not interrupted and last is not None and t.done == 0 and t.failed == plan.to_send and runner.one_cause:
        # The same rule as a streak, whatever the batch's size: every item failed for one
        # systemic cause (no quota, a dead server), so the exit code is that cause's.
        raise _same_kind(last, f"all {t.failed:,} items failed: {last.message}; {written}")
    return Summary(
        total=plan.to_send,
        done=t.done,
        failed=t.failed,
        skipped=plan.skipped,
        invalid=plan.invalid,
        cost=t.cost if t.priced else None,
        elapsed=time.monotonic() - job.started,
        output=plan.output,
        retries=runner.retries,
        interrupted=interrupted,
        models=t.per_model(job.opts.models) if job.opts.models else (),
    )


def open_sink(job: Batch, out: IO[str] | None) -> Sink:
    """Where records go: ``out`` (stdout) without -o; else the file, started afresh
    (--overwrite) or tidied of failed and torn records (--resume) first."""
    path = job.opts.output
    if path is None:
        return StreamSink(out or sys.stdout)
    if job.opts.overwrite:
        with open(path, "wb"):
            pass
    elif job.opts.resume and job.existing.untidy:
        tidy_output(path)
    try:
        return jsonl.Appender(path)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def _warm_up(job: Batch) -> None:
    """Load the encoding before the clock starts, so --tpm counts cost microseconds."""
    with contextlib.suppress(GptcliError):
        job.counter(job.profile).tokens([{"role": "user", "content": "x"}])


class _Runner:
    """One local run's moving parts: the queue, the workers and what they learn on the way."""

    def __init__(self, job: Batch, tally: Tally) -> None:
        self.job = job
        self.tally = tally
        self.fatal: GptcliError | None = None
        self.reader_gone = False  # stdout's reader left: stop quietly (exit 0, like ask)
        self.retries = 0
        self.streak = 0  # systemic failures in a row
        self.streak_stop: Stop | None = None  # raised once the item that completed the streak is written
        self.kinds: set[str] = set()
        self.last_error: GptcliError | None = None
        self.dropped: dict[str, set[str]] = {}  # model -> parameters the server rejected
        self.renamed: dict[str, str] = {}  # a rejected output-limit name -> the one that worked

    async def main(self, sink: Sink, api_key: str) -> None:
        o = self.job.opts
        sender = client.async_chat(self.job.profile, api_key)
        limiter = Limiter(o.rpm, o.tpm)
        queue: asyncio.Queue[tuple[int, Item] | None] = asyncio.Queue(maxsize=o.concurrency)
        window = asyncio.Semaphore(max(4 * o.concurrency, 64)) if o.ordered else None
        writer = Writer(sink, self.tally, window, self._progress)

        async def work() -> None:
            while (job := await queue.get()) is not None:
                seq, item = job
                writer.add(seq, await self.one(item, sender, limiter))
                if self.streak_stop is not None:
                    raise self.streak_stop

        tasks = [asyncio.ensure_future(self._produce(queue, window))]
        tasks += [asyncio.ensure_future(work()) for _ in range(o.concurrency)]
        try:
            await asyncio.gather(*tasks)
        except Stop as e:
            self._stopped(e)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                writer.drain()  # --ordered: results held back for order are written, not lost
            except Stop as e:
                self._stopped(e)
            await sender.aclose()

    @property
    def one_cause(self) -> bool:
        """Every failure had the same systemic kind (a rate limit, the network, the server...)."""
        return len(self.kinds) == 1 and "item" not in self.kinds

    def _stopped(self, stop: Stop) -> None:
        if self.fatal is None and not self.reader_gone:
            self.fatal = stop.error
            self.reader_gone = stop.error is None

    async def _produce(self, queue: asyncio.Queue[tuple[int, Item] | None], window: asyncio.Semaphore | None) -> None:
        seq = 0
        since_yield = 0
        done = self.job.existing.done
        for entry in self.job.source.entries():
            if not isinstance(entry, Item):
                continue
            if item_key(entry) in done:
                since_yield += 1
                if since_yield >= 2000:  # keep signals responsive while skipping
                    since_yield = 0
                    await asyncio.sleep(0)
                continue
            if window is not None:
                await window.acquire()
            await queue.put((seq, entry))
            seq += 1
        for _ in range(self.job.opts.concurrency):
            await queue.put(None)

    def _progress(self, t: Tally, status: str | None = None) -> None:
        self.job.emit(Progress(t.total, t.done, t.failed, t.cost, time.monotonic() - self.job.started, status))

    def _body(self, prof: Profile, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        """The request body, less what the server already rejected for this model."""
        built = client.build_body(prof, msgs, stream=False)
        body = built.body
        if self.job.tools is not None:
            body["tools"] = self.job.tools.definitions()
        for note in built.notes:
            self.job.note(f"{prof.model}: {note}")
        for param in self.dropped.get(prof.model, ()):
            if param in self.renamed and param in body:
                body[self.renamed[param]] = body.pop(param)
            else:
                body.pop(param, None)
        return body

    def _too_long(self, item: Item, prof: Profile, msgs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The failed record of an item over its model's window (never sent), else None."""
        window = self.job.info(prof).context_window
        limit = prof.max_tokens or 0
        if window is None or budget.bound(msgs, model=prof.model).tokens + limit <= window:
            return None
        counted = self.job.count(msgs, prof)
        if counted + limit <= window:
            return None
        self.streak = 0
        why = (
            f"too long for {prof.model}: {counted:,} prompt tokens"
            + (f" + {prof.max_tokens:,} max_tokens" if prof.max_tokens else "")
            + f" > context window {window:,} (not sent)"
        )
        return self.job.failure(item, prof, "context", why, 0)

    async def one(self, item: Item, sender: AsyncChat, limiter: Limiter) -> dict[str, Any]:
        """One item, retries included: its output record."""
        prof = self.job.profile_for(item)
        msgs = self.job.messages(item, prof)
        body = self._body(prof, msgs)
        if (rec := self._too_long(item, prof, msgs)) is not None:
            return rec
        reservation = None
        if prof.budget:  # the shared budget: reserve this item's worst case (capped to what is left)
            try:
                # In a thread: the ledger may wait for this batch's own requests in flight to settle.
                pre, reservation = await asyncio.to_thread(
                    spend.preflight, prof, msgs, counter=self.job.counter(prof), info=self.job.info(prof)
                )
            except BudgetError as e:
                raise Stop(e) from None
            if pre.capped:
                body = self._body(spend.sending(prof, pre), msgs)
        with spend.settling(reservation) as settle:
            rec = await self._send(item, prof, msgs, body, sender, limiter)
            settle(rec.get("cost") or 0.0)  # a failed tool loop's steps were paid for
            return rec

    async def _send(
        self, item: Item, prof: Profile, msgs: list[dict[str, Any]], body: dict[str, Any], sender: Any, limiter: Limiter
    ) -> dict[str, Any]:
        """The item's record; with tools, each step of its loop is one request (``batch.tooling``)."""
        tools = self.job.tools
        if tools is None:
            return await self._request(item, prof, msgs, body, sender, limiter, None)
        steps = Steps()
        for step in range(1, tools.max_steps + 1):
            rec = await self._request(item, prof, msgs, body, sender, limiter, steps)
            reply = rec.pop("_reply", None)
            if reply is None:  # an answer, or a failure
                return rec if rec.get("error") is None else {**rec, **steps.fields(), **steps.spent(self.job, prof)}
            if step == tools.max_steps:
                why = tools.stopped(steps, reply)
                failed = self.job.failure(item, prof, STEPS_KIND, why, rec["attempts"])
                return {**failed, **steps.fields(), "steps": len(steps.completions), **steps.spent(self.job, prof)}
            msgs = await tools.answer(steps, reply, msgs)
            body = {**body, "messages": msgs}
        raise AssertionError("unreachable: max_steps >= 1")

    async def _request(
        self,
        item: Item,
        prof: Profile,
        msgs: list[dict[str, Any]],
        body: dict[str, Any],
        sender: Any,
        limiter: Limiter,
        steps: Steps | None,
    ) -> dict[str, Any]:
        reserve = (prof.max_tokens or 0) * max(1, prof.n)
        extra = self.job.tools.tokens(prof) if self.job.tools is not None else 0
        charge = self.job.count(msgs, prof) + extra + reserve if limiter.tokens is not None else 0
        attempts = 0
        rejected: set[str] = set()
        while True:
            attempts += 1
            await limiter.acquire(charge)
            outcome = await sender.send(body)
            c = outcome.completion
            if c is not None:
                limiter.settle(charge, c.usage.total_tokens if c.usage else None)
                self.streak = 0
                if steps is None:
                    return self.job.success(item, prof, c, attempts)
                if c.tool_calls:
                    return {"_reply": c, "attempts": attempts}
                return {**self.job.success(item, prof, steps.final(c), attempts), **steps.fields()}
            error = outcome.error
            assert error is not None
            if self._second_chance(error, body, prof, rejected):
                continue
            if isinstance(error, AuthError) or outcome.code == "insufficient_quota":
                raise Stop(error)
            wait = backoff(attempts, outcome.retry_after)
            if outcome.retryable and attempts <= self.job.opts.retries and wait <= MAX_RETRY_AFTER:
                if outcome.status == 429:
                    limiter.pause(wait)  # the whole account is limited, not this one request
                if outcome.retry_after is not None and wait >= 1:
                    self._progress(self.tally, status=f"waiting {wait:.0f} s (the server's Retry-After)")
                self.retries += 1
                why = error.message.replace(" after retries", "")
                self.job.emit(Notice(f"item {item.id!r}: {why}; retry {attempts} in {wait:.1f} s", "debug"))
                await asyncio.sleep(wait)
                continue
            return self._failed(item, prof, outcome, attempts)

    def _second_chance(self, error: GptcliError, body: dict[str, Any], prof: Profile, rejected: set[str]) -> bool:
        """``client.second_chance``: a 400 naming a parameter drops it (or renames the output
        limit) for this and every later item of that model, and the item is tried again."""
        if not isinstance(error, APIError):
            return False
        param = client.second_chance(error, body)
        if param is None or param in rejected or len(rejected) >= 3:
            return False
        rejected.add(param)
        self.dropped.setdefault(prof.model, set()).add(param)
        other = client._LIMIT_NAMES.get(param)
        if other and other not in body and error.code == "unsupported_parameter":
            body[other] = body.pop(param)
            self.renamed[param] = other
            self.job.note(f"the server rejected {param!r} for {prof.model}; sending {other!r} instead", "warning")
        else:
            body.pop(param)
            self.job.note(
                f"the server rejected {param!r} for {prof.model} ({error.code}); sending without it", "warning"
            )
        return True

    def _failed(self, item: Item, prof: Profile, outcome: Outcome, attempts: int) -> dict[str, Any]:
        error = outcome.error
        assert error is not None
        kind = error_kind(error, outcome.status)
        systemic = kind in ("network", "server", "rate_limit", "not_found")
        self.kinds.add(kind if systemic else "item")
        self.last_error = error
        self.streak = self.streak + 1 if systemic else 0
        if self.streak_stop is None and self.streak >= max(MIN_FAILURE_STREAK, 2 * self.job.opts.concurrency):
            self.streak_stop = Stop(
                type(error)(
                    f"stopped after {self.streak} items in a row failed: {error.message}",
                    hint="fix the cause, then --resume to continue",
                )
            )
        message = error.message.replace(" after retries", "") + (
            f" (after {attempts} attempts)" if attempts > 1 else ""
        )
        if outcome.retryable and outcome.retry_after is not None and outcome.retry_after > MAX_RETRY_AFTER:
            message += (
                f"; the server's Retry-After asked for {outcome.retry_after:.0f} s,"
                f" more than the {MAX_RETRY_AFTER:.0f} s gptcli waits"
            )
        return self.job.failure(item, prof, kind, message, attempts, status=outcome.status, code=outcome.code)


def run_loop(make: Callable[[], Coroutine[Any, Any, None]]) -> bool:
    """Run the coroutine on a fresh event loop; SIGINT and SIGTERM cancel it cleanly.

    Returns True if it was interrupted. The signal handlers in place before (cli.main's
    SIGTERM -> KeyboardInterrupt) are restored afterwards; a signal ignored before stays ignored.
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
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN:
                continue  # ignored when gptcli started (``nohup``, ``&`` in a script): it stays so
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


def _same_kind(error: GptcliError, message: str) -> GptcliError:
    """An error of ``error``'s kind (so its exit code) saying ``message``; a broken stream's
    partial reply belongs to one item, so the batch's error is the network error it is."""
    from ..errors import NetworkError, StreamBroken

    hint = "fix the cause, then --resume"
    if isinstance(error, StreamBroken):
        return NetworkError(message, hint=hint)
    return type(error)(message, hint=hint)
