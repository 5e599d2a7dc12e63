"""The tool loop's flags (``--tools``, ``--allow``, ``--max-steps``) and the ``ToolRun`` they
make with the profile: which tools are offered, what runs without asking, who is asked.

No ``from __future__ import annotations``: Typer reads these annotations on every run.
"""

from typing import Annotated, Any

import typer

from ..errors import UsageError

ToolsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        help="Offer only these tools: SERVER or SERVER.TOOL, comma-separated (repeatable; default: the profile's).",
        metavar="NAMES",
    ),
]
AllowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow",
        help="Run tools matching PATTERN without asking (server.tool, fs.*, fs; repeatable; adds to [tools] allow).",
        metavar="PATTERN",
    ),
]
MaxStepsOpt = Annotated[
    int,
    typer.Option("--max-steps", help="A tool loop makes at most N requests (default 10; exit 12 when hit).", min=1),
]


def tool_run(
    profile: Any,
    tools: list[str] | None,
    allow: list[str] | None,
    max_steps: int,
    *,
    ask: bool = True,
    warn: Any = None,
) -> Any:
    """The ``tools.loop.ToolRun`` of this command, or None when no tools are offered.

    Tools are offered when the profile declares MCP servers (or ``--tools`` names some):
    ``--tools``' names, else the profile's ``[tools] enabled``, else every tool. The servers
    start here (their tools are listed); one that does not start is an error when
    ``--tools`` named it, else ``warn``ed about and left out. ``ask``: whether a call not
    on the allow list may be put to the user (on a terminal); otherwise it is refused.
    """
    from ..tools import selection, source

    wanted = selection.names(tools)
    if not wanted and not source.declares_tools(profile):
        if allow:
            raise UsageError("--allow: the profile declares no MCP servers, so there is no tool to allow")
        return None
    if profile.n > 1:
        raise UsageError("tools take one reply; drop -n (or n in the profile)")
    box = source.toolbox_for(profile, wanted or None)
    if box is None:
        raise UsageError(
            "--tools: the profile declares no MCP servers", hint="declare them under [mcp.servers.NAME] in the profile"
        )
    try:
        specs = selection.select(box.specs(), wanted, default=source.enabled(profile))
        _server_failures(box, wanted, warn)
    except BaseException:
        box.close()
        raise
    from ..render import tools as shown
    from ..tools.loop import ToolRun
    from ..tools.permission import Policy

    asker = shown.TerminalAsker() if ask and shown.can_ask() else None
    policy = Policy(allow=(*source.allow_list(profile), *(allow or ())), asker=asker)
    return ToolRun(box, specs, policy, max_steps=max_steps, result_limit=source.result_limit(profile))


def _server_failures(box: Any, wanted: list[str], warn: Any) -> None:
    """Servers that did not start: an error when ``--tools`` named them, else a warning."""
    for name, error in (getattr(box, "errors", None) or {}).items():
        if any(w.split(".", 1)[0] == name for w in wanted) or warn is None:
            raise error
        warn(f"{error.message}; its tools are not offered")


def show_tool_event(event: Any, status: Any, spinner: Any) -> None:
    """A tool loop's event: the spinner stops before a call is decided (the user may be asked);
    a finished call is a status line, and a warning when it was refused or failed to run."""
    from ..tools.calls import ToolFinished
    from ..tools.loop import ToolRequested

    if isinstance(event, ToolRequested):
        if spinner is not None:
            spinner.stop()
    elif isinstance(event, ToolFinished):
        warning = event.record.warning()
        if warning is not None:
            status.warn(warning)
        else:
            status(event.record.line())


def rerun_tools(conv: Any, profile: Any, reuse: bool, allow: list[str] | None, max_steps: int, warn: Any) -> Any:
    """A re-run's ``ToolRun``: the original's recorded results (``--reuse-tool-results``: no
    server starts), else the profile's tools (the calls run again, asked about as in ask),
    else None."""
    if not reuse:
        return tool_run(profile, None, allow, max_steps, warn=warn)
    from ..tools import recorded
    from ..tools.loop import ToolRun
    from ..tools.permission import Policy

    box = recorded.from_log(conv.records, conv.notes)
    if not box.specs():
        raise UsageError(f"--reuse-tool-results: conversation {conv.id} made no tool calls")
    return ToolRun(box, tuple(box.specs()), Policy(allow=("*",)), max_steps=max_steps)
