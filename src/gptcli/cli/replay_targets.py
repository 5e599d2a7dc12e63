"""``replay ID --rerun -m A -m B``: one re-run per target, a diff each against the original, one table.

The targets are re-run one after another (each is a conversation of several turns
whose history builds on its own answers), each with its own plan, estimate and
``--max-cost`` (the cap applies to each re-run). Several targets always show the diff
view: per target under its heading, then one summary table; ``--json`` prints a list
of the single re-run's objects. A target that fails is reported and the others still
run; the command then exits with the first failure's code.
"""

import shutil
import sys
from typing import Any

from ..errors import GptcliError
from .options import Overrides


def rerun_targets(
    rp: Any, render: Any, conv: Any, overrides: Overrides, flags: Any, status: Any, *, exact: bool, json_out: bool
) -> None:
    from .. import compare

    planned = []
    for t in overrides.targets():
        plan = rp.plan_rerun(conv, t.profile, {"model": t.model, **t.settings()})
        for note in plan.notes:
            status.warn(note)
        capped, est = rp.fit_budget(plan, flags.max_cost, exact=exact, warn=status.warn)
        planned.append((capped, est))
    labels = compare.labels([p.profile for p, _ in planned])
    for label, (_, est) in zip(labels, planned, strict=True):
        status(
            f"re-run of {conv.id} on {label}: {est.turns} turn{'s' if est.turns != 1 else ''} · "
            f"{render.cost_range(est.cost_min, est.cost_max)}"
        )
    if flags.dry_run:
        render.print_json([_dry_run(conv, plan, est) for plan, est in planned])
        return
    results: list[Any] = []
    failure: GptcliError | None = None
    for label, (plan, est) in zip(labels, planned, strict=True):
        result = rp.RerunResult(None, plan, est)
        gen = rp.rerun(
            plan, result, max_cost=flags.max_cost, stream=not flags.no_stream, log=not flags.no_log, exact=exact
        )
        try:
            for event in gen:
                if isinstance(event, rp.TurnDone):
                    new = event.new
                    status(
                        f"{label}: turn {event.index + 1} of {event.total} · "
                        + rp.reply_stats(new.model, new.usage, new.cost, new.latency)
                    )
        except GptcliError as e:
            status.warn(f"{label}: {e.message}")
            failure = failure or e
        results.append(result)
        if result.conversation_id:
            status(f"{label}: saved as {result.conversation_id} (replay of {conv.id})")
    if json_out:
        render.print_json([{**r.to_dict(), "complete": len(r.pairs) == len(r.plan.turns)} for r in results])
    else:
        _print(render, results, labels)
    if failure is not None:
        raise failure


def _dry_run(conv: Any, plan: Any, est: Any) -> dict[str, Any]:
    return {
        "replay_of": conv.id,
        "profile": plan.profile.name,
        "settings": plan.profile.settings(),
        "turns": [t.user for t in plan.turns],
        "estimate": est.to_dict(),
        "notes": list(plan.notes),
    }


def _print(render: Any, results: list[Any], labels: list[str]) -> None:
    from ..render import diff_many
    from ..render.diff import cleaned

    width = shutil.get_terminal_size((80, 24)).columns
    if render.isatty(sys.stdout):
        results = [cleaned(r) for r in results]
    for line in diff_many.render_many(results, labels, width=width, color=render.color_allowed(sys.stdout)):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
