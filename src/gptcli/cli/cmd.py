"""``gptcli cmd``: a task in words to one shell command; on a terminal, a keypress runs it.

The work is in ``shellcmd`` (prompt, check, decide, run) and ``render.cmdscreen`` (the
terminal); this module wires them to the flags and logs the outcome as a note of the
conversation: the command, whether it ran, and its exit status.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import Interrupted
from . import app
from .options import MaxCostOpt, NoLogOpt, Overrides, VarOpt, VerboseOpt, parse_vars, sampling

FileOpt = Annotated[
    list[Path] | None, typer.Option("--file", "-f", help="Add a file's text to the task (repeatable).", metavar="FILE")
]


@app.command(
    epilog="""Examples:

  gptcli cmd "find files over 100 MB changed this week"

  gptcli cmd --print "count lines of Python in this repo"    # print it, never run

  gptcli cmd -m gpt-4.1 "undo my last git commit but keep the changes"

On a terminal the command is shown, then: Enter runs it in your shell ($SHELL), e edits
it, d asks the model to describe it, Esc (or q, or Ctrl-C) aborts. Nothing runs without
that keypress. Without a terminal (or with --print) the command is printed and nothing
runs. The exit status is the command's own when it ran, 130 when aborted.
"""
)
@sampling(n=False, profile_help="Profile (default: the built-in 'cmd'; its prompt template is used if NAME has none).")
def cmd(
    task: Annotated[list[str] | None, typer.Argument(help="What the command should do.", metavar="TASK")] = None,
    overrides: Overrides = Overrides(),
    file: FileOpt = None,
    var: VarOpt = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the command and exit, even on a terminal (never runs it).")
    ] = False,
    no_log: NoLogOpt = False,
    max_cost: MaxCostOpt = None,
    verbose: VerboseOpt = False,
) -> int:
    """Turn a task into one shell command; Enter runs it, e edits, d describes, Esc aborts."""
    import sys

    from .. import conversation, render, shellcmd
    from ..prompt_input import build_prompt, read_stdin

    given = parse_vars(var)
    task_text = build_prompt(task, file, read_stdin())
    prof, text, warnings = shellcmd.prompt_for(overrides.resolve(shellcmd.PROFILE), task_text, given)
    status = render.Status(verbose)
    for w in warnings:
        status.warn(w)
    session = conversation.Session.start(prof, log=not no_log)
    try:
        answer = shellcmd.command_from(_reply(session, text, status, max_cost))
        for w in answer.warnings:
            status.warn(w)
        if print_only or not (render.isatty(sys.stdin) and render.isatty(sys.stdout)):
            render.print_code(answer.command)
            session.note("printed", kind="cmd", command=answer.command, ran=False, exit_code=None)
            return 0
        return _on_terminal(session, answer.command, status, max_cost)
    finally:
        session.close()


def _reply(session: Any, text: str, status: Any, max_cost: float | None) -> str:
    from .ask_output import _stream

    turn, _ = _stream(session.turn(text, stream=True, max_cost=max_cost, exact=status.enabled), status, None)
    return str(turn.completion.text or "")


def _on_terminal(session: Any, command: str, status: Any, max_cost: float | None) -> int:
    """Show, decide, run; the command's exit status."""
    from dataclasses import replace

    from .. import conversation, shellcmd
    from ..render.cmdscreen import TerminalScreen

    screen = TerminalScreen()

    def describe(current: str) -> str:
        screen.note("asking the model to describe it...")
        prof = replace(session.profile, system=shellcmd.DESCRIBE_SYSTEM, prompt=None)
        helper = conversation.Session.start(prof, log=session.log)
        try:
            return _reply(helper, shellcmd.describe_prompt(current), status, max_cost)
        finally:
            helper.close()

    try:
        chosen = shellcmd.decide(command, screen, describe)
    except KeyboardInterrupt:
        chosen = None
    if chosen is None:
        session.note("aborted", kind="cmd", command=command, ran=False, exit_code=None)
        raise Interrupted("aborted: the command was not run")
    code = shellcmd.run(chosen)
    session.note("ran", kind="cmd", command=chosen, ran=True, exit_code=code, edited=chosen != command)
    return code
