"""``gptcli batch``: many prompts through a model, at scale. The use case: it never prints.

The flow, one module per job:

* ``plan``: ``Batch.plan()`` reads the input once, streamed (and with ``--resume`` the
  existing output): it counts items, prompt tokens and the cost range, reports bad
  lines, and enforces ``--strict`` and ``--max-cost`` before anything is sent.
* ``input``: the input formats (txt, jsonl, csv, tsv, stdin) and ``--template``.
* ``runner`` and ``limits``: ``Batch.run()`` sends every item with asyncio within
  ``--concurrency``, ``--rpm`` and ``--tpm``, retrying with backoff.
* ``openai_batch``: ``Batch.submit()`` / ``Batch.collect()`` take the same items through
  OpenAI's Batch API and merge its output and error files into the same records.
* ``output``: the records, ordered output, ``Progress`` and ``Summary``, and the resume
  state read back from an output file.
* ``job``: the ``Batch`` that ties them together.

Progress goes to an ``on_event`` callback as ``Progress`` snapshots and ``Notice``s
(levels ``debug`` < ``info`` < ``note`` < ``warning``); the result is a ``Summary``.
"""

from __future__ import annotations

from .job import Batch, EventSink, prefetch
from .limits import MAX_RETRY_AFTER, Limiter, backoff
from .output import Progress, Summary, input_hash, read_existing, tidy_output
from .plan import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, VIA, ModelPlan, Options, Plan

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RETRIES",
    "MAX_RETRY_AFTER",
    "VIA",
    "Batch",
    "EventSink",
    "Limiter",
    "ModelPlan",
    "Options",
    "Plan",
    "Progress",
    "Summary",
    "backoff",
    "input_hash",
    "prefetch",
    "read_existing",
    "tidy_output",
]
