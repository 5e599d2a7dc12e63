"""``replay ID --rerun``: the re-run planned against its budget, then its plan printed
(``--dry-run``) or the new transcript streamed as it arrives, or collected for ``--diff``
and ``--json``. Several targets (``-m A -m B``) are ``replay_targets``.
"""

from __future__ import annotations

import shutil
import sys
from typing import TYPE_CHECKING, Any

from ..errors import GptcliError
from .options import Overrides

if TYPE_CHECKING:
    from .replay import Rerun


def plan_and_rerun(
    rp: Any, render: Any, conv: Any, overrides: Overrides, flags: Rerun, status: Any, *, exact: bool, json_out: bool
) -> None:
    """Plan the re-run, check its budget, then print the plan (--dry-run) or run it."""
    plan = rp.plan_rerun(conv, overrides.profile, {"model": overrides.model, **overrides.settings()})
    for note in plan.notes:
        status.warn(note)
    capped, est = rp.fit_budget(plan, flags.max_cost, exact=exact, warn=status.warn)
    for note in capped.notes[len(plan.notes) :]:
        status(note)
    plan = capped
    status(
        f"re-run of {conv.id}: {est.turns} turn{'s' if est.turns != 1 else ''} on {plan.profile.model} · "
        f"{render.cost_range(est.cost_min, est.cost_max)}"
        + (f" (likely {render.usd(est.cost_expected)})" if est.cost_expected is not None else "")
    )
    if flags.dry_run:
        render.print_json(
            {
                "replay_of": conv.id,
                "profile": plan.profile.name,
                "settings": plan.profile.settings(),
                "turns": [t.user for t in plan.turns],
                "estimate": est.to_dict(),
                "notes": list(plan.notes),
            }
        )
        return
    from .tool_flags import rerun_tools

    tools = rerun_tools(conv, plan.profile, flags.reuse_tool_results, flags.allow, flags.max_steps, status.warn)
    try:
        run_rerun(
            rp,
            render,
            plan,
            est,
            status,
            max_cost=flags.max_cost,
            stream=not flags.no_stream,
            log=not flags.no_log,
            diff=flags.diff,
            json_out=json_out,
            tools=tools,
        )
    finally:
        if tools is not None:
            tools.toolbox.close()


def run_rerun(
    rp: Any,
    render: Any,
    plan: Any,
    est: Any,
    status: Any,
    *,
    max_cost: float | None,
    stream: bool,
    log: bool,
    diff: bool,
    json_out: bool,
    tools: Any = None,
) -> None:
    """Drive a re-run: stream the new transcript, or collect it for --diff / --json."""
    from ..models import Delta, Notice, Preflight

    result = rp.RerunResult(None, plan, est)
    show = not diff and not json_out
    markdown = show and render.isatty(sys.stdout)
    printer: Any = None
    gen = rp.rerun(plan, result, max_cost=max_cost, stream=stream, log=log, exact=status.enabled, tools=tools)
    try:
        for event in gen:
            if isinstance(event, rp.TurnStart):
                status(f"turn {event.index + 1} of {event.total}")
                if show:
                    user = render.clean_for(event.user, sys.stdout)
                    sys.stdout.write(("\n" if event.index else "") + f"[user]\n{user}\n\n")
                    sys.stdout.flush()
            elif isinstance(event, Preflight):
                status(f"{event.model} · {'' if event.exact else '≤'}{event.prompt_tokens:,} prompt tokens")
            elif isinstance(event, Notice):
                status(event.text, warning=event.level == "warning")
            elif isinstance(event, Delta) and show and event.index == 0:
                if printer is None:
                    printer = _reply_printer(render, markdown)
                printer.feed(event.text)
            elif isinstance(event, rp.TurnDone):
                if show:
                    if printer is None:  # nothing streamed: print it whole
                        printer = _reply_printer(render, markdown)
                        if event.new.text:
                            printer.feed(event.new.text)
                    printer.close()
                    printer = None
                status(rp.reply_stats(event.new.model, event.new.usage, event.new.cost, event.new.latency))
            elif tools is not None:
                from .tool_flags import show_tool_event

                show_tool_event(event, status, None)
    except GptcliError as e:
        if printer is not None:
            printer.close()
        if result.pairs and json_out:
            render.print_json({**result.to_dict(), "error": e.message, "complete": False})
        elif result.pairs and diff:
            _print_diff(render, result)
        raise
    if json_out:
        render.print_json({**result.to_dict(), "complete": True})
    elif diff:
        _print_diff(render, result)
    if result.conversation_id:
        status(f"saved as {result.conversation_id} (replay of {plan.conv.id})")


def _reply_printer(render: Any, markdown: bool) -> Any:
    sys.stdout.write("[assistant]\n")
    sys.stdout.flush()
    return render.MarkdownStream() if markdown else render.PlainStream()


def _print_diff(render: Any, result: Any) -> None:
    from ..render import diff as diffview

    width = shutil.get_terminal_size((80, 24)).columns
    if render.isatty(sys.stdout):
        from ..render.diff import cleaned

        result = cleaned(result)
    for line in diffview.render(result, width=width, color=render.color_allowed(sys.stdout)):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
