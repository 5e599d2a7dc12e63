"""``gptcli batch``: every prompt of a file, concurrently, with rate limits, retries and resume.

The flags arrive in groups (``options.group``): where records go and how the input is
read (``Files``), the rate limits (``Limits``), how the batch runs (``Mode``), and the
sampling ``Overrides``; ``batches.Options`` is built from them in one place.
"""

import inspect
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import Interrupted, UsageError
from . import app
from .options import (
    BudgetOpt,
    DetailOpt,
    ExtractAllOpt,
    ExtractOpt,
    Overrides,
    TagOpt,
    check_detail,
    check_tag,
    extract_mode,
    group,
    sampling,
    with_budget,
)
from .tool_flags import AllowOpt, ToolsOpt

P = inspect.Parameter


def _flag(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return P(name, P.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


@dataclass(frozen=True)
class Files:
    """The output file and how the input is read (``batches.Options`` fields)."""

    output: Path | None = None
    format: str | None = None
    column: str | None = None
    template: str | None = None
    attach_column: str | None = None
    detail: str | None = None
    extract: bool = False
    extract_all: bool = False
    strict: bool = False
    no_input: bool = False
    ordered: bool = False
    resume: bool = False
    overwrite: bool = False


_FILES = [
    _flag(
        "output",
        Annotated[
            Path | None,
            typer.Option(
                "--output", "-o", help="Append one JSON record per item here (default: stdout).", metavar="FILE"
            ),
        ],
    ),
    _flag(
        "format",
        Annotated[
            str | None,
            typer.Option("--format", help="txt, jsonl, csv or tsv (default: from the extension; stdin: txt)."),
        ],
    ),
    _flag(
        "column",
        Annotated[str | None, typer.Option("--column", help="CSV/TSV column (or JSONL key) holding the prompt.")],
    ),
    _flag(
        "template",
        Annotated[
            str | None,
            typer.Option("--template", help='Build each prompt, e.g. "Classify: {text}" ({field}: a column or key).'),
        ],
    ),
    _flag(
        "attach_column",
        Annotated[
            str | None,
            typer.Option(
                "--attach-column",
                help="CSV/TSV column (or JSONL key) naming each item's attachment: a path (relative to INPUT) or URL.",
                metavar="NAME",
            ),
        ],
    ),
    _flag("detail", DetailOpt),
    _flag("extract", ExtractOpt, False),
    _flag("extract_all", ExtractAllOpt, False),
    _flag(
        "strict", Annotated[bool, typer.Option("--strict", help="A bad input line stops everything (exit 2).")], False
    ),
    _flag(
        "no_input",
        Annotated[bool, typer.Option("--no-input", help="Write the input's sha256 instead of the input itself.")],
        False,
    ),
    _flag("ordered", Annotated[bool, typer.Option("--ordered", help="Write records in input order.")], False),
    _flag(
        "resume",
        Annotated[bool, typer.Option("--resume", help="Continue -o FILE: skip items done, retry failed ones.")],
        False,
    ),
    _flag("overwrite", Annotated[bool, typer.Option("--overwrite", help="Start -o FILE afresh if it exists.")], False),
]


@dataclass(frozen=True)
class Limits:
    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    retries: int | None = None  # None: the profile's max_retries if set, else batch's default


_LIMITS = [
    _flag("concurrency", Annotated[int, typer.Option("--concurrency", "-j", help="Requests in flight at once.")], 8),
    _flag("rpm", Annotated[float | None, typer.Option("--rpm", help="At most this many requests per minute.")]),
    _flag("tpm", Annotated[float | None, typer.Option("--tpm", help="At most this many tokens per minute.")]),
    _flag(
        "retries",
        Annotated[int | None, typer.Option("--retries", help="Retries per item on 429, 5xx, timeouts (default 4).")],
    ),
]


@dataclass(frozen=True)
class Mode:
    dry_run: bool = False
    max_cost: float | None = None
    via: str = "local"
    submit_only: bool = False
    collect: str | None = None
    json_out: bool = False


_MODE = [
    _flag(
        "dry_run",
        Annotated[bool, typer.Option("--dry-run", help="Print the plan (items, tokens, cost) as JSON; send nothing.")],
        False,
    ),
    _flag(
        "max_cost",
        Annotated[
            float | None,
            typer.Option("--max-cost", help="Refuse (exit 7) if the batch could cost more than this (USD)."),
        ],
    ),
    _flag(
        "via",
        Annotated[str, typer.Option("--via", help="local (requests from here) or openai-batch (OpenAI's Batch API).")],
        "local",
    ),
    _flag(
        "submit_only",
        Annotated[
            bool, typer.Option("--submit-only", help="With --via openai-batch: submit, print the batch id, exit.")
        ],
        False,
    ),
    _flag(
        "collect",
        Annotated[
            str | None,
            typer.Option("--collect", help="Finish Batch API batch(es) BATCH_ID[,BATCH_ID...].", metavar="ID"),
        ],
    ),
    _flag(
        "json_out",
        Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout (with -o).")],
        False,
    ),
]


@app.command(
    epilog="""Examples:

  gptcli batch prompts.txt -o results.jsonl

  gptcli batch reviews.csv --column text --template "Classify the sentiment: {text}" -o labels.jsonl

  gptcli batch photos.csv --column prompt --attach-column image -o captions.jsonl

  gptcli batch prompts.txt -o results.jsonl --resume

  gptcli batch big.jsonl --dry-run

  gptcli batch tasks.txt -x -o code.jsonl     # each record's "extract": the reply's code block

  gptcli batch huge.jsonl --via openai-batch -o out.jsonl

  gptcli batch tasks.txt -p dev --allow notes.add -o out.jsonl   # tools: only allowed calls run

Exit codes: 0 every item done, 10 some items failed (their records carry "error";
a tool loop that hit --max-steps is error.kind tool_steps; --resume retries them),
7 over --max-cost (nothing sent), 2 bad flags or (with --strict) a bad input line,
130 interrupted (the output is intact; --resume continues).
"""
)
@group("files", _FILES, Files)
@group("limits", _LIMITS, Limits)
@group("mode", _MODE, Mode)
@sampling()
def batch(
    source: Annotated[
        str, typer.Argument(help="Prompt file (.txt, .jsonl, .csv, .tsv), or - for stdin.", metavar="INPUT")
    ],
    files: Files = Files(),
    limits: Limits = Limits(),
    mode: Mode = Mode(),
    overrides: Overrides = Overrides(),
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Progress and retries on stderr even when it is not a terminal.")
    ] = False,
    budget: BudgetOpt = None,
    tag: TagOpt = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models", help="Run every item on each of these models (A,B,...); a summary per model.", metavar="A,B"
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Run only N items, chosen evenly (--seed picks which), on each model;"
            " project the whole file's cost and time.",
            metavar="N",
        ),
    ] = None,
    tools: ToolsOpt = None,
    allow: AllowOpt = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps", help="An item's tool loop makes at most N requests (default 10; the item fails).", min=1
        ),
    ] = None,
) -> None:
    """Send every prompt of a file, concurrently, with rate limits, retries and resume."""
    from .. import batch as batches

    if not mode.dry_run:
        batches.prefetch()  # import openai while the flags, profile and input are read
    from .. import render

    if mode.json_out and files.output is None and not mode.dry_run:
        raise UsageError("--json prints the summary on stdout, which holds the records without -o FILE")
    via = "openai-batch" if (mode.submit_only or mode.collect) and mode.via == "local" else mode.via
    prof = with_budget(overrides.resolve(), budget)
    retries = limits.retries
    if retries is None:
        set_in_profile = prof.sources.get("max_retries", "default") != "default"
        retries = prof.max_retries if set_in_profile else batches.DEFAULT_RETRIES
    file_opts = {**asdict(files), "extract": extract_mode(files.extract, files.extract_all)}
    check_detail(files.detail)
    del file_opts["extract_all"]
    targets = _models(models, prof.model if sample is not None else None)
    more = {"retries": retries, "max_cost": mode.max_cost, "via": via, "tag": check_tag(tag)}
    more |= {"models": targets, "sample": sample, "seed": overrides.seed}
    opts = batches.Options(**file_opts, **{**asdict(limits), **more})
    progress = render.BatchProgress(verbose=verbose)
    from .batch_tools import batch_tools, refused_warnings

    box = None if mode.collect else batch_tools(prof, tools, allow, max_steps, via, progress)
    try:
        with batches.Batch(prof, source, opts) as job:
            job.tools = box
            try:
                if sample is not None:
                    from .batch_sample import run_sample

                    summary, projections = run_sample(job, mode, progress, sample)
                else:
                    summary, projections = _run(job, mode, via, progress), None
            finally:
                progress.stop()
    finally:
        if box is not None:
            box.close()  # the MCP servers, started once for the whole batch
    refused_warnings(box, progress)
    if summary is None:
        return
    if mode.json_out:
        extra = {"projection": [p.to_dict() for p in projections]} if projections is not None else {}
        render.print_json({**summary.to_dict(), **extra})
    else:
        progress.notice(render.batch_summary_text(summary), "note")
        for line in render.batch_models_text(summary, projections):
            progress.notice(line, "note")
    _raise_for(summary, resumable=files.output is not None)


def _models(spec: str | None, default: str | None) -> tuple[str, ...]:
    """``--models A,B`` as names (``default``: the one model a lone --sample runs on)."""
    if spec is None:
        return (default,) if default else ()
    names = tuple(m.strip() for m in spec.split(",") if m.strip())
    if not names:
        raise UsageError("--models needs model names, e.g. --models gpt-4.1-mini,gpt-4o")
    return names


def _run(job: Any, mode: Mode, via: str, progress: Any) -> Any:
    """Plan, then run, submit or collect; the Summary (None: nothing ran, the plan or ids were printed)."""
    from .. import batch as batches
    from .. import render

    def on_event(event: Any) -> None:
        if isinstance(event, batches.Progress):
            progress.update(event)
        else:
            progress.notice(event.text, event.level)

    if not mode.dry_run:
        job.lock()  # before reading the output's resume state
    if mode.collect:
        ids = [x.strip() for x in mode.collect.split(",") if x.strip()]
        if not ids:
            raise UsageError("--collect needs a batch id")
        progress.start(0)
        return job.collect(ids, on_event)
    plan = job.plan(exact=mode.dry_run, on_event=on_event, check_budget=not mode.dry_run)
    if mode.dry_run:
        render.print_json(plan.to_dict())
        job.check_budget(plan)
        return None
    progress.notice(render.batch_plan_text(plan), "info")
    if via == "local":
        progress.start(plan.to_send)
        return job.run(plan, on_event)
    ids = job.submit(plan, on_event)
    if mode.submit_only:
        sys.stdout.write("".join(f"{i}\n" for i in ids))
        sys.stdout.flush()
        return None
    progress.start(0)
    return job.collect(ids, on_event)


def _raise_for(summary: Any, *, resumable: bool) -> None:
    from ..errors import BatchFailedError

    if summary.interrupted:
        raise Interrupted(
            f"interrupted; {summary.done + summary.failed:,} records are in {summary.output}",
            hint="run the same command with --resume to continue" if resumable else None,
        )
    if summary.failed:
        raise BatchFailedError(
            f"{summary.failed:,} of {summary.done + summary.failed:,} items failed (see 'error' in {summary.output})",
            hint="--resume retries them" if resumable else None,
        )
