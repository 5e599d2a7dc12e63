"""``gptcli chat``: the interactive session, or line by line from stdin.

``-c/--continue`` (alias ``--resume``) is a plain flag: the last conversation, or on a
terminal a pick list of the recent ones; ``--cid ID`` names one. chat takes no
arguments, so a word after ``--resume`` (the old ``--resume ID`` spelling) is refused
with a hint instead of being taken as anything.
"""

import contextlib
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import app
from .options import (
    BudgetOpt,
    CidOpt,
    MaxCostOpt,
    Overrides,
    ShowReasoningOpt,
    TagOpt,
    TitleOpt,
    ToServerOpt,
    VerboseOpt,
    check_tag,
    sampling,
    with_budget,
)
from .tool_flags import AllowOpt, MaxStepsOpt, ToolsOpt, tool_run


@app.command(
    context_settings={"allow_extra_args": True},  # words after the flags: refused below, with a hint
    epilog="""Examples:

  gptcli chat -p coder

  gptcli chat -c

  gptcli chat --cid 3f2a9c

  printf 'hi\\n退出\\n' | gptcli chat

-c (or --resume) continues a conversation: on a terminal, pick it from a searchable list
of the recent ones (Enter takes the newest); without one, the last. --cid ID names one
(the old --resume ID spelling is gone). A resumed chat runs as the conversation ran
(profile, model, server, system prompt, sampling, /set changes); flags given now
override and are logged; it never moves to another server unless --base-url, -p or
--to-server says so. Without a terminal each line of stdin is a turn and stdout gets
the replies only. Inside, /help lists the commands.
""",
)
@sampling(n=False)
def chat(
    ctx: typer.Context,
    overrides: Overrides = Overrides(),
    continue_: Annotated[
        bool,
        typer.Option(
            "--continue", "-c", "--resume", help="Continue a conversation: pick one, or the last (a plain flag)."
        ),
    ] = False,
    cid: CidOpt = None,
    resume_lines: Annotated[
        int,
        typer.Option(
            "--resume-lines", min=0, help="Resuming on a terminal: reprint the last N exchanges.", metavar="N"
        ),
    ] = 3,
    to_server: ToServerOpt = False,
    title: TitleOpt = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Keep nothing: no conversation log, no input history.")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text replies even on a terminal.")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for each whole reply.")] = False,
    max_cost: MaxCostOpt = None,
    budget: BudgetOpt = None,
    tag: TagOpt = None,
    verbose: VerboseOpt = False,
    show_reasoning: ShowReasoningOpt = False,
    tools: ToolsOpt = None,
    allow: AllowOpt = None,
    max_steps: MaxStepsOpt = 10,
) -> int:
    """Talk with a model: history, live Markdown, slash commands; scriptable through stdin."""
    from .. import chat as chat_use_case
    from .. import continuing, conversation, render
    from ..backends import retry_notice

    if ctx.args:
        raise UsageError(
            f"chat takes no arguments (got {' '.join(ctx.args)!r})", hint="continue one conversation with --cid ID"
        )
    options = chat_use_case.Options(stream=not no_stream, max_cost=max_cost, verbose=verbose, tag=check_tag(tag))
    flags = (tools, allow, max_steps)
    with retry_notice.shown(render.Status(verbose)):  # retries said on a terminal (or with -v), not a silent wait
        if not (continue_ or cid is not None):
            session = conversation.Session.start(overrides.resolve(), log=not no_log, title=title)
            _adjust(session, show_reasoning, budget)
            with _tools(session, options, flags, verbose):
                return _run(session, log=not no_log, raw=raw, options=options)
        if cid is None and _on_terminal():
            cid = _pick()
            if cid is None:
                return 0
        c = continuing.open_session(
            cid, overrides.settings(), overrides.profile, log=not no_log, to_server=to_server, title=title
        )
        _adjust(c.session, show_reasoning, budget)
        with _tools(c.session, options, flags, verbose):
            return _run(
                c.session,
                conv=c.conv,
                log=not no_log,
                raw=raw,
                options=options,
                resume_lines=resume_lines,
                notices=c.notices,
            )


@contextlib.contextmanager
def _tools(session: Any, options: Any, flags: tuple[Any, Any, int], verbose: bool) -> Iterator[None]:
    """The chat's tool loop (``--tools``, ``--allow``, ``--max-steps``, the profile's servers),
    its servers stopped when the chat ends."""
    from ..render import Status

    options.tools = tool_run(session.profile, *flags, warn=Status(verbose).warn)
    try:
        yield
    finally:
        if options.tools is not None:
            options.tools.toolbox.close()


def _adjust(session: Any, show_reasoning: bool, budget: str | None) -> None:
    """``--show-reasoning`` (the profile key sets it too) and ``--budget`` for this chat."""
    if show_reasoning:
        import dataclasses

        session.profile = dataclasses.replace(session.profile, show_reasoning=True)
    session.profile = with_budget(session.profile, budget)


def _pick() -> str | None:
    """The conversation chosen from the pick list (None: the user left)."""
    from .. import pick_list
    from .. import replay as rp

    rows = rp.listing(rp.Filters(limit=200)).rows()
    if not rows:
        from ..errors import NotFoundError

        raise NotFoundError("no saved conversations yet", hint="start one with: gptcli ask or gptcli chat")
    chosen = pick_list.pick(rows)
    return None if chosen is None else str(chosen.get("path") or chosen["id"])


def _on_terminal() -> bool:
    """Whether chat runs interactively: stdin and stdout both terminals."""
    from .. import render

    return render.isatty(sys.stdin) and render.isatty(sys.stdout)


def _run(
    session: Any,
    *,
    conv: Any = None,
    log: bool = True,
    raw: bool = False,
    options: Any = None,
    resume_lines: int = 3,
    notices: tuple[str, ...] | list[str] = (),
) -> int:
    """Run a chat: on a terminal when stdin and stdout are both ttys, else line by line.

    A resumed chat (``conv``) on a terminal first reprints its last ``resume_lines`` exchanges.
    """
    from .. import render
    from ..chat import COMMANDS, Chat, Frontend
    from ..render.chat_screen import LineFrontend, TerminalFrontend, reprint

    chat = Chat(session, options)
    ui: Frontend
    words = [f"/{name}" for name in COMMANDS]
    if _on_terminal():
        ui = TerminalFrontend(toolbar=chat.toolbar, words=words, history=log, raw=raw)
    elif render.isatty(sys.stdin) and render.isatty(sys.stderr):  # gptcli chat | tee log
        ui = TerminalFrontend(toolbar=chat.toolbar, words=words, history=log, raw=True, replies_piped=True)
    else:
        ui = LineFrontend(sys.stdin.buffer, verbose=chat.options.verbose)
    if conv is not None:
        for w in conv.warnings:
            ui.warn(w)
        for n in notices:
            ui.warn(n)
        if ui.interactive and resume_lines:
            reprint(ui, conv.records, resume_lines)
    if session.profile.prompt:
        ui.warn(f"profile {session.profile.name!r} has a prompt template; chat sends messages as typed (it is for ask)")
    return chat.run(ui)
