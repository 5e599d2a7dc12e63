"""``gptcli batch``'s tools: the items' ``--tools`` / ``--allow`` / ``--max-steps`` (ask's
flags), started once for the whole batch; a call not on the allow list is refused, never asked."""

from typing import Any

from ..errors import UsageError


def batch_tools(
    prof: Any, tools: list[str] | None, allow: list[str] | None, max_steps: int | None, via: str, progress: Any
) -> Any:
    """The batch's ``tooling.BatchTools`` (servers started), None when no tools are offered."""
    from ..tools import source

    named = bool(tools or allow or max_steps is not None)
    if not named and not source.declares_tools(prof):
        return None
    if via != "local":
        raise UsageError(
            "--via openai-batch runs no tools (the Batch API cannot run a tool loop)",
            hint="run with --via local, or use a profile without [mcp.servers]",
        )
    from ..tools.loop import DEFAULT_MAX_STEPS
    from .tool_flags import tool_run

    def warn(text: str) -> None:
        progress.notice(text, "warning")

    run = tool_run(prof, tools, allow, max_steps or DEFAULT_MAX_STEPS, ask=False, warn=warn)
    if run is None:
        if max_steps is not None:
            raise UsageError("--max-steps: the profile declares no MCP servers, so there is no tool loop")
        return None
    from ..batch.tooling import BatchTools

    progress.notice("tool steps are more requests: the cost can be larger than the estimate", "note")
    return BatchTools(run)


def refused_warnings(box: Any, progress: Any) -> None:
    """One warning per tool the items called but the allow list did not name."""
    if box is not None:
        for line in box.warnings():
            progress.notice(line, "warning")
