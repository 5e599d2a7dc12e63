"""``gptcli replay``: list, show, export and re-run saved conversations.

The listing and the show formats are printed here, a re-run's plan, streamed transcript
and diff in ``replay_rerun`` (``replay_targets``: several targets; ``replay_check``:
``--check``); the replay use case (``gptcli.replay``) finds, loads, formats and re-runs.
"""

import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..completions import complete_conversation
from ..errors import UsageError
from . import app
from .options import Overrides, group, sampling

REPLAY_FORMATS = ("text", "markdown", "json", "openai")


@dataclass(frozen=True)
class Rerun:
    """The re-run flags: ``--rerun`` (or ``--diff``, which implies it) and what only a re-run takes."""

    rerun: bool = False
    diff: bool = False
    max_cost: float | None = None
    no_stream: bool = False
    no_log: bool = False
    dry_run: bool = False
    reuse_tool_results: bool = False
    allow: list[str] | None = None
    max_steps: int = 10

    @property
    def on(self) -> bool:
        return self.rerun or self.diff

    def given(self) -> list[str]:
        """The re-run-only flags given (each needs --rerun and an id)."""
        set_ = self.max_cost is not None or self.no_stream or self.no_log or self.dry_run
        tools = self.reuse_tool_results or bool(self.allow) or self.max_steps != 10
        return ["max_cost/no_stream/no_log/dry_run"] * set_ + ["reuse_tool_results/allow/max_steps"] * tools


def _opt(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


_RERUN = [
    _opt(
        "rerun",
        Annotated[
            bool, typer.Option("--rerun", help="Send the user turns again (with -p/-m/-t/...): a new conversation.")
        ],
        False,
    ),
    _opt(
        "diff",
        Annotated[
            bool, typer.Option("--diff", help="With --rerun (implied): old against new per turn, and a summary.")
        ],
        False,
    ),
    _opt(
        "max_cost",
        Annotated[
            float | None,
            typer.Option("--max-cost", help="Refuse (exit 7) a re-run that could cost more than this many USD in all."),
        ],
    ),
    _opt("no_stream", Annotated[bool, typer.Option("--no-stream", help="Re-run without streaming.")], False),
    _opt("no_log", Annotated[bool, typer.Option("--no-log", help="Do not save the re-run.")], False),
    _opt(
        "dry_run",
        Annotated[
            bool, typer.Option("--dry-run", help="Print the re-run's profile, turns and cost estimate; send nothing.")
        ],
        False,
    ),
    _opt(
        "reuse_tool_results",
        Annotated[
            bool,
            typer.Option(
                "--reuse-tool-results",
                help="Answer the model's tool calls with the original's recorded results (no server is started).",
            ),
        ],
        False,
    ),
    _opt(
        "allow",
        Annotated[
            list[str] | None,
            typer.Option(
                "--allow", help="Re-run tools matching PATTERN without asking (repeatable).", metavar="PATTERN"
            ),
        ],
    ),
    _opt(
        "max_steps",
        Annotated[int, typer.Option("--max-steps", help="A tool loop makes at most N requests per turn.", min=1)],
        10,
    ),
]


@app.command(
    epilog="""Examples:

  gptcli replay --grep 神经网络 --since 7d --json

  gptcli replay 3f2a --format openai >> dataset.jsonl

  gptcli replay 3f2a --rerun -m gpt-4.1-mini --diff --max-cost 0.05

  gptcli replay --check 'golden/*.jsonl' --expect regex=^OK --junit r.xml
"""
)
@sampling(
    profile_help="Listing: only this profile. --rerun: the profile to use (repeat: one re-run each).",
    model_help="Listing: only this model (globs: 'gpt-4o*'). --rerun: the model to use (repeat: one re-run each).",
    several=True,
)
@group("flags", _RERUN, Rerun)
def replay(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Conversation id (a unique prefix), or a JSONL file (--check: several, or globs). None: list.",
            metavar="ID|FILE",
            autocompletion=complete_conversation,
        ),
    ] = None,
    last: Annotated[bool, typer.Option("--last", help="The most recent conversation.")] = False,
    overrides: Overrides = Overrides(),
    since: Annotated[
        str | None, typer.Option("--since", help="Listing: active since 7d, 12h, 30m, 2w or a date.")
    ] = None,
    grep: Annotated[str | None, typer.Option("--grep", help="Listing: only those containing TEXT (any case).")] = None,
    comparison: Annotated[
        str | None,
        typer.Option("--comparison", help="Listing: only the conversations of this comparison (ask -m A -m B)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Listing: at most N (default: 20 on a terminal, else all; 0: all).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output (same as --format json).")] = False,
    format_: Annotated[
        str | None, typer.Option("--format", help='Show as text, markdown, json or openai ({"messages"} line).')
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Usage, cost and latency per reply.")] = False,
    flags: Rerun = Rerun(),
    check: Annotated[
        bool, typer.Option("--check", help="Re-run each conversation given and check the answers (exit 11 on failure).")
    ] = False,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            metavar="KIND=VALUE",
            help="--check: schema=FILE, regex=RE, contains=TEXT, similar=0.8, max-cost=USD, max-latency=S.",
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE", help="--check: a JUnit XML report.")] = None,
) -> None:
    """List, show, export and re-run saved conversations."""
    from .. import render
    from .. import replay as rp

    status = render.Status(verbose)
    if check or expect or junit:
        if not check:
            raise UsageError("--expect and --junit go with --check")
        if overrides.several:
            raise UsageError("--check takes one -p (and one -m)")
        from .replay_check import run_checks

        run_checks(
            list(refs or []),
            list(expect or []),
            overrides,
            max_cost=flags.max_cost,
            log=not flags.no_log,
            junit=junit,
            json_out=json_out,
            status=status,
        )
        return
    if refs is not None and len(refs) > 1:
        raise UsageError("one conversation at a time", hint="--check takes several")
    ref = refs[0] if refs else None

    rerun_only = overrides.given() + flags.given()
    as_json = json_out or format_ == "json"
    if ref is None and not last:
        if flags.on or rerun_only:
            raise UsageError("--rerun and its options need a conversation", hint="gptcli replay ID --rerun -m MODEL")
        if overrides.several:
            raise UsageError("the listing filters on one -p and one -m", hint="a glob: -m 'gpt-4o*'")
        filters = (overrides.profile, overrides.model, since, grep, limit)
        show_listing(rp, render, *filters, as_json, status, comparison=comparison)
        return
    if since is not None or grep is not None or limit is not None or comparison is not None:
        raise UsageError("--since, --grep, --comparison and --limit filter the listing; drop the id to list")
    conv = rp.load(ref, last=last)
    for w in conv.warnings:
        status.warn(w)
    if not flags.on:
        if rerun_only or overrides.profile is not None or overrides.model is not None:
            raise UsageError("-p, -m and the sampling options apply to --rerun", hint="add --rerun")
        show(rp, render, conv, format_ or ("json" if json_out else None), verbose)
        return
    if format_ not in (None, "json", "text"):
        raise UsageError("--rerun prints text, or JSON with --json")
    if overrides.several:
        from .replay_targets import rerun_targets

        rerun_targets(rp, render, conv, overrides, flags, status, exact=verbose or flags.dry_run, json_out=as_json)
        return
    from .replay_rerun import plan_and_rerun

    plan_and_rerun(rp, render, conv, overrides, flags, status, exact=verbose or flags.dry_run, json_out=as_json)


def show(rp: Any, render: Any, conv: Any, fmt: str | None, verbose: bool) -> None:
    """One conversation in a show format (None: Markdown on a terminal, else text)."""
    from ..render import transcript

    fmt = fmt or ("markdown" if render.isatty(sys.stdout) else "text")
    if fmt not in REPLAY_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(REPLAY_FORMATS)}, not {fmt!r}")
    if fmt == "json":
        render.print_json(rp.to_json(conv))
    elif fmt == "openai":
        print(render.clean_for(transcript.to_openai(conv), sys.stdout), flush=True)
    elif fmt == "markdown" and render.isatty(sys.stdout):
        render.print_markdown(transcript.to_markdown(conv, verbose=verbose))
    else:
        text = (
            transcript.to_markdown(conv, verbose=verbose)
            if fmt == "markdown"
            else transcript.to_text(conv, verbose=verbose)
        )
        sys.stdout.write(render.clean_for(text.rstrip("\n"), sys.stdout) + "\n")
        sys.stdout.flush()


def show_listing(
    rp: Any,
    render: Any,
    profile: str | None,
    model: str | None,
    since: str | None,
    grep: str | None,
    limit: int | None,
    json_out: bool,
    status: Any,
    *,
    comparison: str | None = None,
) -> None:
    from ..render import tables

    tty = render.isatty(sys.stdout)
    if limit is not None and limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    if limit is None:
        limit = 20 if tty and not json_out else 0
    filters = rp.Filters(
        model=model,
        profile=profile,
        since=rp.parse_since(since) if since else None,
        grep=grep,
        limit=limit,
        comparison=comparison,
    )
    found = rp.listing(filters)
    for problem in found.problems[:3]:
        status.warn(f"skipped {problem}")
    if len(found.problems) > 3:
        status.warn(f"... and {len(found.problems) - 3} more files that could not be read")
    if json_out:
        # One object per line inside the array: valid JSON, and fast for 10,000 rows.
        lines = ",\n".join(found.rows_json)
        sys.stdout.write("[\n" + lines + "\n]\n" if lines else "[]\n")
        sys.stdout.flush()
        return
    columns = ["id", "date", "profile", "model", "turns", "cost", "title"]
    render.print_table(columns, list(tables.iter_rows(found.rows())))
    if tty and found.more:
        status(f"showing the newest {len(found.rows_json)}; --limit 0 for all {found.total}")
    elif tty and not found.rows_json:
        status("no conversations match" if found.total else "no saved conversations yet")
