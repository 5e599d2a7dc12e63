"""``gptcli ask``: one question, one answer, made for scripts; and the printing of a turn.

``-c/--continue`` is a plain flag (the last conversation); ``--cid ID`` names one. The
turn printer here (``print_turn``) streams the reply as it arrives and is what a
``render/turn`` module would hold; it is shared with no other command.
"""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import app
from .options import CidOpt, ContinueOpt, MaxCostOpt, NoLogOpt, NoStreamOpt, Overrides, RawOpt, VerboseOpt, sampling

FileOpt = Annotated[
    list[Path] | None, typer.Option("--file", "-f", help="Add a file's text (repeatable).", metavar="FILE")
]


@app.command(
    epilog="""Examples:

  gptcli ask "Explain this regex: ^a+$"

  git diff | gptcli ask "Write a commit message for this diff"

  gptcli ask -c "And in French?"

  gptcli ask --cid 3f2a "one more question"

  gptcli ask --json "Name three rivers" | jq -r .text

  gptcli ask --dry-run -m o3 "Hello"

  gptcli ask --schema person.json "Invent a person" | jq .name

-c/--continue takes no value: `ask -c 2024 was a good year` continues the last
conversation with "2024 was a good year", wherever -c stands among the words. Name
another conversation with --cid ID (the old `-c ID` spelling is gone). To send a
literal "-c", put the prompt after --: gptcli ask -- explain tar -c flag
"""
)
@sampling()
def ask(
    prompt: Annotated[
        list[str] | None, typer.Argument(help="The prompt; stdin is appended after a blank line.", metavar="PROMPT")
    ] = None,
    overrides: Overrides = Overrides(),
    file: FileOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object (text, usage, cost, ...).")] = False,
    raw: RawOpt = False,
    no_stream: NoStreamOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request, its tokens and cost; send nothing.")
    ] = False,
    continue_: ContinueOpt = False,
    cid: CidOpt = None,
    no_log: NoLogOpt = False,
    max_cost: MaxCostOpt = None,
    verbose: VerboseOpt = False,
    json_object: Annotated[
        bool, typer.Option("--json-object", help="Ask for a JSON object; exit 9 if the reply is not one.")
    ] = False,
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            help="JSON Schema file the reply must match (sent as json_schema; exit 9 if not).",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Ask one question and print the answer: made for scripts."""
    from .. import conversation, render
    from ..backends import retry_notice
    from ..prompt_input import build_prompt, read_stdin

    output = _output_spec(json_object, schema)
    text = build_prompt(prompt, file, read_stdin())
    prof = overrides.resolve()
    status = render.Status(verbose)
    session, warnings = conversation.open_session(prof, cid, resume=continue_ or cid is not None, log=not no_log)
    for w in warnings:  # a torn last line, an unknown record type: said, then carried on
        status.warn(w)
    if output is not None and output.kind == "json_object":
        text, note = conversation.with_json_hint(session, text)
        if note:
            status(note)
    extra_body = output.extra_body() if output is not None else None
    if dry_run:
        d = session.dry_run(text, max_cost=max_cost, extra_body=extra_body)
        render.print_json(conversation.dry_run_record(d, session.profile))
        return
    with retry_notice.shown(status):  # "request failed, retrying in 2 s, 1 of 2" on a terminal or with -v
        print_turn(
            session,
            text,
            status=status,
            json_out=json_out,
            raw=raw,
            stream=not no_stream,
            max_cost=max_cost,
            extra_body=extra_body,
            output=output,
        )


def _output_spec(json_object: bool, schema: Path | None) -> Any:
    if not json_object and schema is None:
        return None  # free text, the common case: not even an import
    from .. import structured

    return structured.spec_for(json_object, schema)


def print_turn(
    session: Any,
    text: str,
    *,
    status: Any,
    json_out: bool,
    raw: bool,
    stream: bool,
    max_cost: float | None,
    extra_body: dict[str, Any] | None = None,
    output: Any = None,
) -> Any:
    """Run one turn, printing as it streams; return the Turn.

    With ``output`` (structured output) nothing is printed until the whole reply has
    been checked: a reply that is not the JSON asked for raises InvalidOutputError (9).
    """
    from .. import conversation, render

    prof = session.profile
    markdown = render.isatty(sys.stdout) and not raw and not json_out and output is None
    multi = prof.n > 1
    live = not json_out and not multi and output is None
    gen = session.turn(
        text, stream=stream and not json_out, max_cost=max_cost, exact=status.enabled, extra_body=extra_body
    )
    turn, streamed = _stream(gen, status, markdown if live else None)
    if output is not None:
        turn = conversation.check_output(turn, output)
    c = turn.completion
    if not streamed and not json_out and not multi:
        # Not streamed (--no-stream, or a server that sent no deltas): print it whole.
        whole = render.MarkdownStream() if markdown else render.PlainStream()
        if c.text:
            whole.feed(c.text)
        whole.close()
    if json_out:
        render.print_json(conversation.turn_record(turn, prof))
    elif multi:
        for i, choice in enumerate(c.texts, start=1):
            header = f"--- choice {i} of {len(c.texts)} ---"
            if markdown:
                render.print_markdown(f"**{header}**\n\n{choice}")
            else:
                sys.stdout.write(f"{header}\n{choice}\n")
        sys.stdout.flush()
    u = c.usage
    usage = f"{u.prompt_tokens:,} in / {u.completion_tokens:,} out" if u else "usage not reported"
    status(
        f"{usage} · {render.usd(turn.cost)} · {c.latency:.2f} s"
        + (f" · {turn.conversation_id}" if turn.conversation_id else "")
        + (f" · finish: {c.finish_reason}" if c.finish_reason not in ("stop", None) else "")
    )
    return turn


def _stream(gen: Any, status: Any, markdown: bool | None) -> tuple[Any, bool]:
    """Drive the turn's events: status lines, and the reply's deltas (``markdown`` None: not shown)."""
    from .. import render
    from ..models import Delta, Notice, Preflight

    printer: Any = None
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                return stop.value, printer is not None
            if isinstance(event, Preflight):
                status(
                    f"{event.model} · {'' if event.exact else '≤'}{event.prompt_tokens:,} prompt tokens · "
                    f"{render.cost_range(event.cost_min, event.cost_max)}"
                )
            elif isinstance(event, Notice):
                status(event.text, warning=event.level == "warning")
            elif isinstance(event, Delta) and markdown is not None:
                if printer is None:
                    printer = render.MarkdownStream() if markdown else render.PlainStream()
                printer.feed(event.text)
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM) landed here, while printing, not inside the turn: hand it to the
        # session so that it keeps the partial reply and raises Interrupted.
        gen.throw(KeyboardInterrupt())
        raise
    finally:
        if printer is not None:
            printer.close()
