"""``gptcli ask``: one question, one answer, made for scripts; and the printing of a turn.

``-c/--continue`` is a plain flag (the last conversation); ``--cid ID`` names one. The
turn printer here (``print_turn``) streams the reply as it arrives and is what a
``render/turn`` module would hold; it is shared with no other command.
"""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import app
from .options import (
    AttachOpt,
    BudgetOpt,
    CidOpt,
    ContinueOpt,
    DetailOpt,
    ExtractAllOpt,
    ExtractOpt,
    MaxCostOpt,
    NoLogOpt,
    NoStreamOpt,
    Overrides,
    RawOpt,
    ShowReasoningOpt,
    TagOpt,
    TitleOpt,
    ToServerOpt,
    VarOpt,
    VerboseOpt,
    check_detail,
    check_tag,
    extract_mode,
    parse_vars,
    sampling,
    with_budget,
)
from .tool_flags import AllowOpt, MaxStepsOpt, ToolsOpt, show_tool_event, tool_run

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

  git diff | gptcli ask -p commit-msg

  gptcli ask -p review --var focus=security -f app.py

  gptcli ask -x "Write a bash function that dedups lines" > dedup.sh

  gptcli ask -m gpt-4.1-mini -m gpt-4o "Explain CRDTs"     # both at once, compared

  gptcli ask -p dev --tools fs --allow 'fs.*' --max-steps 5 --json "Which files define a CLI?"

  gptcli ask -a screenshot.png "What is wrong in this UI?"

  curl -s https://example.com/cat.jpg | gptcli ask -a - "Describe it"

-c/--continue takes no value: `ask -c 2024 was a good year` continues the last
conversation with "2024 was a good year", wherever -c stands among the words. Name
another conversation with --cid ID (the old `-c ID` spelling is gone). To send a
literal "-c", put the prompt after --: gptcli ask -- explain tar -c flag

Continuing restores the conversation's profile, model, server, system prompt, sampling
values and --json-object/--schema mode; flags given now override them (and are logged).
A conversation is never moved to another server silently: --base-url or -p on the
command line moves it, and when only the environment points elsewhere, --to-server.
--retry (with -c or --cid) resends the last question if its reply failed, or else
regenerates the last reply.
"""
)
@sampling(
    several=True,
    model_help="Model name (overrides the profile). Repeat to ask several models at once and compare.",
    profile_help="Profile name (default: $GPTCLI_PROFILE or 'default'). Repeat to compare profiles.",
)
def ask(
    prompt: Annotated[
        list[str] | None, typer.Argument(help="The prompt; stdin is appended after a blank line.", metavar="PROMPT")
    ] = None,
    overrides: Overrides = Overrides(),
    file: FileOpt = None,
    attach: AttachOpt = None,
    detail: DetailOpt = None,
    var: VarOpt = None,
    extract: ExtractOpt = False,
    extract_all: ExtractAllOpt = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object (text, usage, cost, ...).")] = False,
    raw: RawOpt = False,
    no_stream: NoStreamOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request, its tokens and cost; send nothing.")
    ] = False,
    continue_: ContinueOpt = False,
    cid: CidOpt = None,
    retry: Annotated[
        bool,
        typer.Option("--retry", help="With -c/--cid: resend the failed last question (or regenerate the last reply)."),
    ] = False,
    to_server: ToServerOpt = False,
    title: TitleOpt = None,
    no_log: NoLogOpt = False,
    max_cost: MaxCostOpt = None,
    budget: BudgetOpt = None,
    tag: TagOpt = None,
    verbose: VerboseOpt = False,
    show_reasoning: ShowReasoningOpt = False,
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
    side_by_side: Annotated[
        bool,
        typer.Option("--side-by-side", help="Comparing models on a terminal: the answers in columns, side by side."),
    ] = False,
    partial_ok: Annotated[
        bool,
        typer.Option(
            "--partial-ok", help="When the reply breaks off unfinished, still print what arrived (exit 6 all the same)."
        ),
    ] = False,
    tools: ToolsOpt = None,
    allow: AllowOpt = None,
    max_steps: MaxStepsOpt = 10,
) -> None:
    """Ask one question and print the answer: made for scripts."""
    from .. import continuing, conversation, render, structured
    from ..backends import retry_notice
    from ..prompt_input import profile_prompt, read_stdin

    which = extract_mode(extract, extract_all)
    if which is not None and (json_object or schema is not None):
        raise UsageError("-x/--extract takes code from free text; --schema and --json-object replies are JSON")
    output = _output_spec(json_object, schema)
    given = parse_vars(var)
    resume = continue_ or cid is not None
    if overrides.several or side_by_side:
        from . import fanout

        one = {"-c/--cid": resume, "--retry": retry, "-x/--extract": which is not None, "--partial-ok": partial_ok}
        one["--tools/--allow/--max-steps"] = bool(tools or allow) or max_steps != 10  # the tool loop: one model
        one["-a/--attach"] = bool(attach)  # not compared across models yet (issue 19)
        fanout.refuse(overrides, side_by_side, {**one, "--show-reasoning": show_reasoning})
        fanout.fan_out(
            overrides,
            prompt=prompt,
            files=file,
            given=given,
            output=output,
            side_by_side=side_by_side,
            json_out=json_out,
            raw=raw,
            stream=not no_stream,
            dry_run=dry_run,
            log=not no_log,
            title=title,
            max_cost=max_cost,
            budget=budget,
            tag=tag,
            verbose=verbose,
        )
        return
    if retry and not resume:
        raise UsageError("--retry needs a conversation", hint="gptcli ask -c --retry, or --cid ID --retry")
    if retry and (prompt or file or attach):
        raise UsageError("--retry sends the conversation's last question again; it takes no prompt")
    atts = _attachments(attach, detail)
    status = render.Status(verbose)
    if resume:
        c = continuing.open_session(
            cid,
            overrides.settings(),
            overrides.profile,
            log=not no_log,
            to_server=to_server,
            title=title,
            output=continuing.output_record(output),
        )
        session = c.session
        for w in c.conv.warnings:  # a torn last line, an unknown record type: said, then carried on
            status.warn(w)
        for n in c.notices:
            status.warn(n) if c.restored.server is not None else status(n)
        output = output or continuing.output_spec(c.restored.saved.output)
    else:
        record = continuing.output_record(output)
        session = conversation.Session.start(overrides.resolve(), log=not no_log, output=record, title=title)
    if show_reasoning:
        import dataclasses

        session.profile = dataclasses.replace(session.profile, show_reasoning=True)
    session.profile = with_budget(session.profile, budget)
    session.tag = check_tag(tag)
    prof = session.profile
    if which is not None and prof.n > 1:
        raise UsageError("-x/--extract takes one reply; drop -n (or n in the profile)")
    text: str | None = None
    notes: tuple[str, ...] = ()
    if retry:
        if session.failed_turn is None and not any(m["role"] == "user" for m in session.messages):
            raise UsageError("nothing to retry yet")
    else:
        stdin_text = "" if attach and "-" in attach else read_stdin()
        if atts and not (prompt or file or stdin_text or prof.prompt):
            text = ""  # the attachments alone are the question
        else:
            text, notes = profile_prompt(prof, prompt, file, stdin_text, given)
        for w in notes:
            status.warn(w)
    if atts:
        from ..attachments import capable

        capable.check(prof, [a.kind for a in atts])  # exit 3 before anything is sent, or stored
        _show_attachments(atts, prof.model, status)
    if output is not None and output.kind == "json_object" and text is not None:
        text, note = structured.with_json_hint(session, text)
        if note:
            status(note)
    extra_body = output.extra_body() if output is not None else None
    run = tool_run(session.profile, tools, allow, max_steps, warn=status.warn)  # None: no tools offered
    if run is not None and dry_run:
        extra_body = {**(extra_body or {}), "tools": run.definitions()}
    try:
        if dry_run:
            failed = session.failed_turn["content"] if session.failed_turn else None
            d = session.dry_run(
                text if text is not None else failed, max_cost=max_cost, extra_body=extra_body, attachments=atts
            )
            from ..turn_records import dry_run_record

            record = dry_run_record(d, session.profile)
            if any(isinstance(m.get("content"), list) for m in record["body"].get("messages", [])):
                from ..attachments.describe import without_bytes

                body = record["body"]
                record["body"] = {**body, "messages": without_bytes(body["messages"], session.profile.model)}
            if prof.prompt and text is not None:
                record["prompt"] = text  # the filled template, as the user message will carry it
            render.print_json(record)
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
                partial_ok=partial_ok,
                extract=which,
                tools=run,
                attachments=atts,
            )
    finally:
        if run is not None:
            run.toolbox.close()  # the MCP servers stop here


def _attachments(specs: list[str] | None, detail: str | None) -> list[Any]:
    check_detail(detail)
    if not specs:
        return []
    from ..attachments.detect import load_all

    return load_all(specs, detail=detail)


def _show_attachments(atts: list[Any], model: str, status: Any) -> None:
    """-v: each attachment as ``{type, name, bytes, sha256, tokens}`` (never its bytes)."""
    if not status.enabled:
        return
    from ..attachments import describe, parts

    for a in atts:
        d = describe.describe_attachment(a, parts.part(a), model)
        tokens = "" if d["tokens"] is None else f" · {'~' if d.get('note') else ''}{d['tokens']:,} tokens"
        sha = f" · sha256 {d['sha256'][:12]}" if d["sha256"] else ""
        status(f"attached {d['name']}: {d['type']} · {d['bytes'] or 0:,} bytes{sha}{tokens}")


def _output_spec(json_object: bool, schema: Path | None) -> Any:
    if not json_object and schema is None:
        return None  # free text, the common case: not even an import
    from .. import structured

    return structured.spec_for(json_object, schema)


def print_turn(
    session: Any,
    text: str | None,
    *,
    status: Any,
    json_out: bool,
    raw: bool,
    stream: bool,
    max_cost: float | None,
    extra_body: dict[str, Any] | None = None,
    output: Any = None,
    partial_ok: bool = False,
    extract: str | None = None,
    tools: Any = None,
    attachments: list[Any] | None = None,
) -> Any:
    """Run one turn, printing as it streams; return the Turn.

    With ``output`` (structured output) nothing is printed until the whole reply has
    been checked: a reply that is not the JSON asked for raises InvalidOutputError (9).
    A reply that broke off unfinished (StreamBroken) leaves stdout empty unless
    ``partial_ok`` (on a terminal, what was already shown stays shown); the server's
    whole answer behind an error is shown with -v.
    With ``extract`` ("first" or "all") only the reply's code is printed, plain, once the
    reply is whole (``gptcli.extract``).
    """
    from .. import render, structured
    from ..render import thinking

    prof = session.profile
    markdown = render.isatty(sys.stdout) and not raw and not json_out and output is None
    multi = prof.n > 1
    live = not json_out and not multi and output is None and extract is None
    # One estimate: the figure -v, --dry-run and --json show is the same (issue 15).
    kwargs: dict[str, Any] = {
        "stream": stream and not json_out,
        "max_cost": max_cost,
        "exact": status.enabled or json_out,
    }
    atts = attachments or None
    if tools is not None:
        from ..tools.loop import run_turn

        gen = run_turn(session, text, tools, **kwargs, extra_body=extra_body, attachments=atts)
    elif text is None:
        gen = session.retry(**kwargs, extra_body=extra_body)
    else:
        gen = session.turn(text, **kwargs, extra_body=extra_body, attachments=atts)
    shown = _Thinking(prof.show_reasoning)
    from ..errors import GptcliError, StreamBroken, ToolStepsError

    try:
        turn, streamed = _stream(gen, status, markdown if live else None, shown, partial_ok=partial_ok)
    except ToolStepsError as e:
        if json_out and e.turn is not None:  # the calls made so far, for scripts
            from ..turn_records import turn_record

            render.print_json(turn_record(e.turn, prof))
        raise
    except GptcliError as e:
        detail = render.detail_text(e) if status.verbose else None
        if detail:
            status(f"the server's answer:\n{detail}")
        if isinstance(e, StreamBroken) and partial_ok and not (live and stream) and any(e.partial.texts):
            sys.stdout.write("\n".join(e.partial.texts) + "\n")
            sys.stdout.flush()
        raise
    if output is not None:
        turn = structured.check_output(turn, output)
    c = turn.completion
    if not shown.shown and c.reasoning:  # not streamed: the whole thinking, then the answer
        shown.show(c.reasoning)
    code = _extracted(c.text or "", extract, status) if extract is not None else None
    if code is not None and not json_out:
        render.print_code(code)
    elif not streamed and not json_out and not multi:
        # Not streamed (--no-stream, or a server that sent no deltas): print it whole.
        whole = render.MarkdownStream() if markdown else render.PlainStream()
        if c.text:
            whole.feed(c.text)
        whole.close()
    if json_out:
        from ..turn_records import turn_record

        record = turn_record(turn, prof)
        if attachments:  # what each one was counted at; never its bytes
            from ..attachments import describe, parts

            record["attachments"] = [describe.describe_attachment(a, parts.part(a), prof.model) for a in attachments]
        if code is not None:
            record["extract"] = code
        render.print_json(record)
    elif multi:
        for i, choice in enumerate(c.texts, start=1):
            header = f"--- choice {i} of {len(c.texts)} ---"
            if markdown:
                render.print_markdown(f"**{header}**\n\n{choice}")
            else:
                sys.stdout.write(f"{header}\n{render.clean_for(choice, sys.stdout)}\n")
        sys.stdout.flush()
    status(
        f"{thinking.usage_text(c.usage)} · {render.usd(turn.cost)}"
        + (" (estimated)" if turn.cost_estimated else "")
        + f" · {c.latency:.2f} s"
        + (f" · {turn.conversation_id}" if turn.conversation_id else "")
        + (f" · finish: {c.finish_reason}" if c.finish_reason not in ("stop", None) else "")
    )
    return turn


class _Thinking:
    """The spinner until the first answer token, and the reasoning itself with --show-reasoning."""

    def __init__(self, show: bool) -> None:
        from ..render import thinking

        self.show_reasoning = show
        self.spinner = thinking.Spinner()
        self.stream = thinking.ReasoningStream()
        self.shown = False

    def reasoning(self, text: str) -> None:
        if self.show_reasoning:
            self.spinner.stop()  # the thinking itself is the sign of life
            self.stream.feed(text)
            self.shown = True
        else:
            self.spinner.thinking()

    def answer(self) -> None:
        self.spinner.stop()
        self.stream.close()

    def show(self, text: str) -> None:
        if self.show_reasoning:
            self.stream.feed(text)
            self.stream.close()


def _extracted(reply: str, which: str, status: Any) -> str:
    from ..extract import extract

    got = extract(reply, which)
    if got.warning:
        status.warn(got.warning)
    return got.text


def _stream(
    gen: Any, status: Any, markdown: bool | None, thinking: _Thinking | None = None, *, partial_ok: bool = False
) -> tuple[Any, bool]:
    """Drive the turn's events: status lines, and the reply's deltas (``markdown`` None: not shown)."""
    from .. import render
    from ..errors import StreamBroken
    from ..models import Delta, Notice, Preflight

    thinking = thinking or _Thinking(False)  # the spinner, at least (cmd uses this too)
    printer: Any = None
    step_break = False
    spinner = thinking.spinner
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                return stop.value, printer is not None
            if isinstance(event, Preflight):
                status(
                    f"{event.model} · {'' if event.exact else '~'}{event.prompt_tokens:,} prompt tokens · "
                    f"{render.cost_range(event.cost_min, event.cost_max)}"
                )
                spinner.start()  # the request goes out now
            elif isinstance(event, Notice):
                with spinner.paused():
                    status(event.text, warning=event.level == "warning")
            elif isinstance(event, Delta):
                if event.reasoning and event.index == 0:
                    thinking.reasoning(event.reasoning)
                if event.text:
                    thinking.answer()
                    if markdown is not None:
                        if printer is None:
                            printer = render.MarkdownStream() if markdown else render.PlainStream()
                        elif step_break:  # a tool loop's earlier step said something: a paragraph apart
                            printer.feed("\n\n")
                        step_break = False
                        printer.feed(event.text)
            else:
                step_break = step_break or printer is not None
                show_tool_event(event, status, spinner)
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM) landed here, while printing, not inside the turn: hand it to the
        # session so that it keeps the partial reply and raises Interrupted.
        thinking.answer()
        gen.throw(KeyboardInterrupt())
        raise
    except StreamBroken:
        if printer is not None and not partial_ok and hasattr(printer, "discard"):
            printer.discard()  # an unfinished reply is not an answer: nothing on a piped stdout
        raise
    finally:
        thinking.answer()
        if printer is not None:
            printer.close()
