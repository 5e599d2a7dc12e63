"""How ``gptcli ask`` shows a turn: streamed as it arrives, or whole; JSON, extracted code, the status line.

``answer`` takes ``ask``'s ready question to the end: sent and printed, or ``--dry-run``'s
request shown (``print_dry_run``). ``print_turn`` runs the turn (or a tool loop) and prints it;
``_stream`` (shared with ``gptcli cmd``) drives the session's events into a printer, with the
thinking shown or folded.
"""

from __future__ import annotations

import sys
from typing import Any

from .tool_flags import show_tool_event, tool_run


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
        _print_record(turn, prof, attachments, code)
    elif multi:
        _print_choices(c.texts, markdown)
    status(_status_line(turn))
    return turn


def answer(
    session: Any,
    text: str | None,
    atts: list[Any],
    *,
    output: Any,
    status: Any,
    tools: list[str] | None,
    allow: list[str] | None,
    max_steps: int,
    dry_run: bool,
    max_cost: float | None,
    json_out: bool,
    raw: bool,
    stream: bool,
    partial_ok: bool,
    extract: str | None,
) -> None:
    """``ask``'s turn once its question is ready: the JSON hint and the tools (``--tools``) added,
    then sent and printed (``print_turn``), or with ``--dry-run`` shown (``print_dry_run``);
    the tools' MCP servers stop at the end."""
    from .. import structured
    from ..backends import retry_notice

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
            print_dry_run(session, text, max_cost=max_cost, extra_body=extra_body, attachments=atts)
            return
        with retry_notice.shown(status):  # "request failed, retrying in 2 s, 1 of 2" on a terminal or with -v
            print_turn(
                session,
                text,
                status=status,
                json_out=json_out,
                raw=raw,
                stream=stream,
                max_cost=max_cost,
                extra_body=extra_body,
                output=output,
                partial_ok=partial_ok,
                extract=extract,
                tools=run,
                attachments=atts,
            )
    finally:
        if run is not None:
            run.toolbox.close()  # the MCP servers stop here


def print_dry_run(
    session: Any, text: str | None, *, max_cost: float | None, extra_body: Any, attachments: list[Any]
) -> None:
    """``--dry-run``: the request as it would be sent (the failed question for ``--retry``), as JSON."""
    from .. import render
    from ..turn_records import dry_run_record

    failed = session.failed_turn["content"] if session.failed_turn else None
    d = session.dry_run(
        text if text is not None else failed, max_cost=max_cost, extra_body=extra_body, attachments=attachments
    )
    record = dry_run_record(d, session.profile)
    if any(isinstance(m.get("content"), list) for m in record["body"].get("messages", [])):
        from ..attachments.describe import without_bytes

        body = record["body"]
        record["body"] = {**body, "messages": without_bytes(body["messages"], session.profile.model)}
    if session.profile.prompt and text is not None:
        record["prompt"] = text  # the filled template, as the user message will carry it
    render.print_json(record)


def _print_record(turn: Any, prof: Any, attachments: list[Any] | None, code: str | None) -> None:
    """``--json``: the turn as a record, with what each attachment was counted at and the extracted code."""
    from .. import render
    from ..turn_records import turn_record

    record = turn_record(turn, prof)
    if attachments:  # what each one was counted at; never its bytes
        from ..attachments import describe, parts

        record["attachments"] = [describe.describe_attachment(a, parts.part(a), prof.model) for a in attachments]
    if code is not None:
        record["extract"] = code
    render.print_json(record)


def _print_choices(texts: tuple[str, ...], markdown: bool) -> None:
    """``n > 1``: every choice under its header."""
    from .. import render

    for i, choice in enumerate(texts, start=1):
        header = f"--- choice {i} of {len(texts)} ---"
        if markdown:
            render.print_markdown(f"**{header}**\n\n{choice}")
        else:
            sys.stdout.write(f"{header}\n{render.clean_for(choice, sys.stdout)}\n")
    sys.stdout.flush()


def _status_line(turn: Any) -> str:
    """Usage, cost, latency, the conversation and an unusual finish, after the reply."""
    from .. import render
    from ..render import thinking

    c = turn.completion
    return (
        f"{thinking.usage_text(c.usage)} · {render.usd(turn.cost)}"
        + (" (estimated)" if turn.cost_estimated else "")
        + f" · {c.latency:.2f} s"
        + (f" · {turn.conversation_id}" if turn.conversation_id else "")
        + (f" · finish: {c.finish_reason}" if c.finish_reason not in ("stop", None) else "")
    )


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
