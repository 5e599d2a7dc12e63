"""``gptcli ask``: one question, one answer, made for scripts.

``-c/--continue`` is a plain flag (the last conversation); ``--cid ID`` names one. Once
the question is ready, ``ask_output.answer`` sends it and prints the turn (or shows the
``--dry-run`` request).
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import app
from .ask_output import answer
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
from .tool_flags import AllowOpt, MaxStepsOpt, ToolsOpt

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
    from .. import render

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
    session, output = _open_session(
        overrides,
        cid,
        output,
        status,
        resume=resume,
        log=not no_log,
        to_server=to_server,
        title=title,
        show_reasoning=show_reasoning,
        budget=budget,
        tag=tag,
    )
    prof = session.profile
    if which is not None and prof.n > 1:
        raise UsageError("-x/--extract takes one reply; drop -n (or n in the profile)")
    if retry and session.failed_turn is None and not any(m["role"] == "user" for m in session.messages):
        raise UsageError("nothing to retry yet")
    text = None if retry else _question(session, prompt, file, attach, atts, given, status)
    _check_attachments(atts, prof, status)
    answer(
        session,
        text,
        atts,
        output=output,
        status=status,
        tools=tools,
        allow=allow,
        max_steps=max_steps,
        dry_run=dry_run,
        max_cost=max_cost,
        json_out=json_out,
        raw=raw,
        stream=not no_stream,
        partial_ok=partial_ok,
        extract=which,
    )


def _attachments(specs: list[str] | None, detail: str | None) -> list[Any]:
    check_detail(detail)
    if not specs:
        return []
    from ..attachments.detect import load_all

    return load_all(specs, detail=detail)


def _check_attachments(atts: list[Any], prof: Any, status: Any) -> None:
    """The model takes them (exit 3 before anything is sent, or stored); shown with -v."""
    if not atts:
        return
    from ..attachments import capable

    capable.check(prof, [a.kind for a in atts])  # exit 3 before anything is sent, or stored
    _show_attachments(atts, prof.model, status)


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


def _open_session(
    overrides: Overrides,
    cid: str | None,
    output: Any,
    status: Any,
    *,
    resume: bool,
    log: bool,
    to_server: bool,
    title: str | None,
    show_reasoning: bool,
    budget: str | None,
    tag: str | None,
) -> tuple[Any, Any]:
    """The session ``ask`` runs (new, or with ``resume`` the one to continue) and the output spec."""
    from .. import continuing, conversation

    if resume:
        c = continuing.open_session(
            cid,
            overrides.settings(),
            overrides.profile,
            log=log,
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
        session = conversation.Session.start(overrides.resolve(), log=log, output=record, title=title)
    if show_reasoning:
        import dataclasses

        session.profile = dataclasses.replace(session.profile, show_reasoning=True)
    session.profile = with_budget(session.profile, budget)
    session.tag = check_tag(tag)
    return session, output


def _question(
    session: Any,
    prompt: list[str] | None,
    files: Any,
    attach: list[str] | None,
    atts: list[Any],
    given: Any,
    status: Any,
) -> str:
    """The user message: the prompt (arguments, files, stdin) through the profile's template; "" when
    attachments alone are the question."""
    from ..prompt_input import profile_prompt, read_stdin

    prof = session.profile
    stdin_text = "" if attach and "-" in attach else read_stdin()
    if atts and not (prompt or files or stdin_text or prof.prompt):
        return ""  # the attachments alone are the question
    text, notes = profile_prompt(prof, prompt, files, stdin_text, given)
    for w in notes:
        status.warn(w)
    return text
