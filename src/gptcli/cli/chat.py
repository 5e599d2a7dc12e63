"""``gptcli chat``: the interactive session, or line by line from stdin.

``-c/--continue`` (alias ``--resume``) is a plain flag: the last conversation; ``--cid
ID`` names one. chat takes no arguments, so a word after ``--resume`` (the old
``--resume ID`` spelling) is refused with a hint instead of being taken as anything.
"""

from typing import Annotated

import typer

from ..errors import UsageError
from . import app
from .options import CidOpt, MaxCostOpt, Overrides, VerboseOpt, sampling


@app.command(
    context_settings={"allow_extra_args": True},  # words after the flags: refused below, with a hint
    epilog="""Examples:

  gptcli chat -p coder

  gptcli chat -c

  gptcli chat --cid 3f2a9c

  printf 'hi\\n退出\\n' | gptcli chat

-c (or --resume) continues the last conversation; --cid ID another one (the old
--resume ID spelling is gone). Without a terminal each line of stdin is a turn and
stdout gets the replies only. Inside, /help lists the commands.
""",
)
@sampling(n=False)
def chat(
    ctx: typer.Context,
    overrides: Overrides = Overrides(),
    continue_: Annotated[
        bool,
        typer.Option("--continue", "-c", "--resume", help="Continue the last conversation (a plain flag)."),
    ] = False,
    cid: CidOpt = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Keep nothing: no conversation log, no input history.")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text replies even on a terminal.")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for each whole reply.")] = False,
    max_cost: MaxCostOpt = None,
    verbose: VerboseOpt = False,
) -> int:
    """Talk with a model: history, live Markdown, slash commands; scriptable through stdin."""
    from .. import chat as chat_use_case
    from .. import conversation, render
    from ..backends import retry_notice

    if ctx.args:
        raise UsageError(
            f"chat takes no arguments (got {' '.join(ctx.args)!r})", hint="continue one conversation with --cid ID"
        )
    conv = None
    profile = model = None
    if continue_ or cid is not None:
        conv = conversation.load_for_continue(cid)
        profile, model = chat_use_case.resume_defaults(conv)
    prof = overrides.resolve(profile, model)
    options = chat_use_case.Options(stream=not no_stream, max_cost=max_cost, verbose=verbose)
    with retry_notice.shown(render.Status(verbose)):  # retries said on a terminal (or with -v), not a silent wait
        return chat_use_case.main(prof, conv=conv, log=not no_log, raw=raw, options=options)
