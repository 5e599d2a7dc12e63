"""The Batch API path (``--via openai-batch``): the items written to request files and
submitted, the batches polled, and their output and error files merged into the same
records as a local run writes (``--submit-only`` stops after the submit, ``--collect``
starts from the poll)."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .. import client, jsonl
from ..errors import Interrupted, UsageError
from ..models import Notice
from .input import Invalid, Item
from .output import Progress, Sink, Stop, StreamSink, Summary, Tally, Writer, key, read_existing, tidy_output
from .plan import BATCH_API_DISCOUNT

if TYPE_CHECKING:
    # BatchAPI and BatchResult: the backend's; typed against the core once the Backend protocol lands.
    from ..backend import BatchAPI
    from ..models import BatchResult
    from .job import Batch

# The Batch API's limits per batch: 50,000 requests and a 200 MB request file.
BATCH_API_MAX_REQUESTS = 50_000
BATCH_API_MAX_BYTES = 190 * 1024 * 1024
TERMINAL = ("completed", "failed", "expired", "cancelled")


def submit(job: Batch) -> list[str]:
    """Write the request file(s), upload them and create the batches; their ids."""
    api = client.batch_api(job.profile, client.api_key(job.profile))
    if job.opts.resume and job.opts.output is not None and job.existing.untidy:
        tidy_output(job.opts.output)
    ids: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gptcli-batch-") as tmp:
        for path, count in request_files(job, Path(tmp)):
            file_id = api.upload(path)
            created = api.create(file_id, {"gptcli_input": job.source.name[-500:]})
            ids.append(created["id"])
            job.emit(Notice(f"submitted {created['id']} ({count:,} requests)", "note"))
    return ids


def request_files(job: Batch, directory: Path) -> Iterator[tuple[Path, int]]:
    """Batch API request files (custom_id, method, url, body), each within the limits."""
    part = 0
    f: IO[bytes] | None = None
    path = directory / "requests-0.jsonl"
    count = size = 0
    seen: set[str] = set()
    try:
        for item in job.items():
            prof = job.profile_for(item)
            body = client.build_body(prof, job.messages(item, prof), stream=False).body
            custom_id = str(item.id)
            request = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
            line = (jsonl.dumps(request) + "\n").encode("utf-8")
            if f is not None and (count >= BATCH_API_MAX_REQUESTS or size + len(line) > BATCH_API_MAX_BYTES):
                f.close()
                f = None
                yield path, count
                part += 1
                path = directory / f"requests-{part}.jsonl"
                count = size = 0
                seen.clear()
            if custom_id in seen:
                raise UsageError(f"{job.source.name}:{item.line}: id {item.id!r} again; the Batch API needs unique ids")
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


def wait(job: Batch, api: BatchAPI, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Poll until every batch is finished; Progress on the way. Ctrl-C stops waiting
    (the batches keep running at the server)."""
    batches: dict[str, dict[str, Any]] = {}
    delay = 1.0
    try:
        while True:
            for batch_id in ids:
                if batches.get(batch_id, {}).get("status") not in TERMINAL:
                    batches[batch_id] = api.retrieve(batch_id)
            counts = [b.get("request_counts") or {} for b in batches.values()]
            statuses = sorted({str(b.get("status")) for b in batches.values()})
            job.emit(
                Progress(
                    sum(c.get("total") or 0 for c in counts),
                    sum(c.get("completed") or 0 for c in counts),
                    sum(c.get("failed") or 0 for c in counts),
                    0.0,
                    time.monotonic() - job.started,
                    status="/".join(statuses),
                )
            )
            if all(b.get("status") in TERMINAL for b in batches.values()):
                return batches
            time.sleep(delay)
            delay = min(delay * 1.5, 60.0)
    except KeyboardInterrupt:
        joined = ",".join(ids)
        raise Interrupted(
            f"stopped waiting; batch {joined} keeps running at the server",
            hint=f"collect it later: gptcli batch {job.input_ref} --collect {joined}"
            + (f" -o {job.opts.output}" if job.opts.output else ""),
        ) from None


def collect(job: Batch, ids: list[str], out: IO[str] | None = None) -> Summary:
    """Wait for the batches, download their output and error files, and append a record
    for every item they hold that the output does not have yet (so collecting twice
    writes nothing twice). Records come in input order."""
    job.started = time.monotonic()
    path = job.opts.output
    if path is not None:
        if path.is_dir() or not path.parent.is_dir():
            raise UsageError(f"-o {path}: not a writable file path")
        job.existing = read_existing(path)
    api = client.batch_api(job.profile, client.api_key(job.profile))
    batches = wait(job, api, ids)
    have = set(job.existing.done) | job.existing.failed
    tally = Tally(total=0)
    invalid = 0
    sink: Sink = StreamSink(out or sys.stdout) if path is None else jsonl.Appender(path)
    writer = Writer(sink, tally, None, lambda t: job.emit(progress(job, t)))
    try:
        with tempfile.TemporaryDirectory(prefix="gptcli-collect-") as tmp:
            for batch_id, batch in batches.items():
                requested, results = _download(api, batch, Path(tmp))
                tally.total += len(requested)
                invalid = _merge(job, batch, requested, results, have, writer)
                for cid in list(results)[:5]:
                    job.note(f"batch {batch_id}: a result for {cid!r}, not an item of {job.source.name}", "warning")
    except Stop as e:
        if e.error is None:
            raise BrokenPipeError from None  # cli.run: the reader went away, which is not an error
        raise e.error from None
    finally:
        sink.close()
    return Summary(
        total=tally.total,
        done=tally.done,
        failed=tally.failed,
        skipped=0,
        invalid=invalid,
        cost=tally.cost if tally.priced else None,
        elapsed=time.monotonic() - job.started,
        output=str(path) if path is not None else "stdout",
        batch_ids=tuple(ids),
    )


def _merge(
    job: Batch,
    batch: dict[str, Any],
    requested: set[str],
    results: dict[str, BatchResult],
    have: set[Any],
    writer: Writer,
) -> int:
    """Write a record for each input item this batch was asked for and the output lacks;
    the results used are taken out of ``results``. The number of invalid input lines."""
    status = str(batch.get("status"))
    reason = _batch_errors(batch)
    invalid = 0
    for entry in job.source.entries():
        if isinstance(entry, Invalid):
            invalid += 1
        if not isinstance(entry, Item):
            continue
        cid = str(entry.id)
        if cid not in requested or key(entry.id) in have:
            continue
        have.add(key(entry.id))
        prof = job.profile_for(entry)
        result = results.pop(cid, None)
        if result is not None and result.completion is not None:
            rec = job.success(entry, prof, result.completion, 1, discount=BATCH_API_DISCOUNT, latency=False)
        elif result is not None:
            kind = result_kind(result.status, result.code)
            message = result.message or "failed"
            rec = job.failure(entry, prof, kind, message, 1, status=result.status, code=result.code)
        else:
            why = f"no result: batch {batch['id']} is {status}" + (f" ({reason})" if reason else "")
            rec = job.failure(entry, prof, "batch", why, 1)
        writer.write(rec)
    return invalid


def progress(job: Batch, t: Tally) -> Progress:
    return Progress(t.total, t.done, t.failed, t.cost, time.monotonic() - job.started)


def _download(api: BatchAPI, batch: dict[str, Any], tmp: Path) -> tuple[set[str], dict[str, BatchResult]]:
    """The custom_ids a batch was asked for, and its results by custom_id."""
    requested: set[str] = set()
    results: dict[str, BatchResult] = {}
    input_id = batch.get("input_file_id")
    if input_id:
        path = tmp / f"{batch['id']}-input.jsonl"
        api.download(input_id, path)
        requested.update(api.custom_ids(path))
    for name in ("output_file_id", "error_file_id"):
        file_id = batch.get(name)
        if not file_id:
            continue
        path = tmp / f"{batch['id']}-{name}.jsonl"
        api.download(file_id, path)
        for result in api.results(path):
            if result.custom_id is not None and result.custom_id not in results:
                results[result.custom_id] = result
    return requested, results


def _batch_errors(batch: dict[str, Any]) -> str | None:
    errors = batch.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    if isinstance(data, list) and data:
        first = data[0] if isinstance(data[0], dict) else {}
        return str(first.get("message") or first.get("code") or "failed")
    return None


def result_kind(status: int | None, code: str | None) -> str:
    """The ``error.kind`` of a Batch API result line. Those carry a status and a code but
    no error object, so this follows the backend's mapping (``translate``) by hand."""
    if code == "context_length_exceeded":
        return "context"
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status is not None and status >= 500:
        return "server"
    if status is not None and 400 <= status < 500:
        return "bad_request"
    return "error"
