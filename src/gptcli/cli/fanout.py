"""``gptcli ask -m A -m B``: the question to several models at once (``gptcli.compare``), printed.

Not a command of its own: ``ask`` hands over here when -m or -p is given more than once.
On a terminal each answer appears under its model's heading as it completes (or all
side by side with --side-by-side), then a table; piped, one ``--- model ---`` block per
target in the order given; ``--json`` prints a list of the usual ``ask --json`` objects.
When some targets fail, every answer that arrived is printed all the same and the
command exits with the first failed target's code (in the order given).
"""

import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import GptcliError, UsageError
from .options import Overrides, check_tag, with_budget


def refuse(overrides: Overrides, side_by_side: bool, given: dict[str, bool]) -> None:
    """--side-by-side without several targets; the ask flags a comparison does not take
    (each names one conversation or one reply)."""
    if not overrides.several:
        raise UsageError("--side-by-side compares models", hint="gptcli ask -m MODEL -m OTHER --side-by-side ...")
    for flag, on in given.items():
        if on:
            raise UsageError(f"{flag} takes one model; compare without it", hint="or ask each model on its own")


def fan_out(
    overrides: Overrides,
    *,
    prompt: list[str] | None,
    files: list[Path] | None,
    given: dict[str, str],
    output: Any,
    side_by_side: bool,
    json_out: bool,
    raw: bool,
    stream: bool,
    dry_run: bool,
    log: bool,
    title: str | None,
    max_cost: float | None,
    budget: str | None,
    tag: str | None,
    verbose: bool,
) -> None:
    from .. import compare, render, structured, turn_records
    from ..prompt_input import profile_prompt, read_stdin

    status = render.Status(verbose)
    profiles = [with_budget(t.resolve(), budget) for t in overrides.targets()]
    for p in profiles:
        if p.n > 1:
            raise UsageError("a comparison takes one reply per model; drop -n (or n in the profile)")
    record = None
    if output is not None:
        from .. import continuing

        record = continuing.output_record(output)
    comp = compare.start(profiles, log=log, output=record, title=title)
    stdin_text = read_stdin()
    texts: list[str] = []
    warned: set[str] = set()
    for session in comp.sessions:
        session.tag = check_tag(tag)
        text, notes = profile_prompt(session.profile, prompt, files, stdin_text, given)
        if output is not None and output.kind == "json_object":
            text, _ = structured.with_json_hint(session, text)
        texts.append(text)
        for w in notes:
            if w not in warned:
                warned.add(w)
                status.warn(w)
    extra_body = output.extra_body() if output is not None else None
    if dry_run:
        records = []
        for session, text in zip(comp.sessions, texts, strict=True):
            d = session.dry_run(text, max_cost=max_cost, extra_body=extra_body)
            records.append(turn_records.dry_run_record(d, session.profile))
        render.print_json(records)
        return
    status(f"asking {len(profiles)} models at once · comparison {comp.id}")
    check = (lambda turn: structured.check_output(turn, output)) if output is not None else None
    outcomes = _collect(compare, comp, texts, status, side_by_side, json_out, raw, stream, max_cost, extra_body, check)
    failed = compare.first_failure(outcomes)
    if failed is not None:
        raise failed  # every answer that arrived is printed: now the first failure's exit code


def _collect(
    compare: Any,
    comp: Any,
    texts: list[str],
    status: Any,
    side_by_side: bool,
    json_out: bool,
    raw: bool,
    stream: bool,
    max_cost: float | None,
    extra_body: dict[str, Any] | None,
    check: Any,
) -> list[Any]:
    """Run the comparison, printing each answer as the output mode wants it; the Outcomes."""
    from .. import render
    from ..render import compare as view

    tty = render.isatty(sys.stdout) and not json_out
    width = shutil.get_terminal_size((80, 24)).columns
    if side_by_side and not tty:
        status.warn("--side-by-side needs a terminal: one block per model instead")
        side_by_side = False
    if side_by_side and not view.fits_side_by_side(len(comp.labels), width):
        status.warn(f"{width} columns are too narrow for {len(comp.labels)} answers side by side: one under another")
        side_by_side = False
    blocks = None if json_out or side_by_side else view.Blocks(comp.labels, markdown=not raw)
    outcomes: list[Any] = []
    gen = compare.run(
        comp,
        texts,
        stream=stream,
        max_cost=max_cost,
        exact=status.enabled or json_out,
        extra_body=extra_body,
        check=check,
    )
    try:
        for o in gen:
            _one(o, outcomes, blocks, status, render)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the answers that arrived are printed; those still coming are
        # abandoned (their questions stay in their conversations, without a reply).
        if blocks is not None:
            blocks.flush()
        from ..errors import Interrupted

        raise Interrupted(f"interrupted; {len(outcomes)} of {len(comp.sessions)} answers arrived") from None
    outcomes.sort(key=lambda o: o.index)
    if json_out:
        render.print_json([_record(o, comp.id) for o in outcomes])
    elif side_by_side:
        view.print_side_by_side(
            comp.labels, [o.turn.completion.text if o.ok else None for o in outcomes], markdown=not raw
        )
    if tty:
        view.print_summary([_row(render, o) for o in outcomes])
    return outcomes


def _one(o: Any, outcomes: list[Any], blocks: Any, status: Any, render: Any) -> None:
    """One target finished: its warnings, its block (or failure) and its status line."""
    outcomes.append(o)
    for n in o.notices:
        status.warn(f"{o.label}: {n}")
    if o.error is not None and not isinstance(o.error, GptcliError):
        raise o.error
    if o.error is not None:
        status.warn(f"{o.label}: {o.error.message}")
    if blocks is not None:
        blocks.add(o.index, o.turn.completion.text if o.ok else None, _message(o.error))
    if o.ok:
        status(f"{o.label}: {_stats(render, o)}")


def _message(error: BaseException | None) -> str | None:
    if error is None:
        return None
    return error.message if isinstance(error, GptcliError) else str(error)


def _stats(render: Any, o: Any) -> str:
    c = o.turn.completion
    from ..render import thinking

    saved = o.conversation_id or "not saved"
    return f"{thinking.usage_text(c.usage)} · {render.usd(o.turn.cost)} · {c.latency:.2f} s · {saved}"


def _row(render: Any, o: Any) -> list[str]:
    if not o.ok:
        code = getattr(o.error, "exit_code", 1)
        return [o.label, "", "", "", "", f"failed (exit {int(code)})"]
    c = o.turn.completion
    usage = c.usage
    return [
        o.label,
        f"{c.latency:.2f} s",
        f"{usage.prompt_tokens:,}" if usage else "?",
        f"{usage.completion_tokens:,}" if usage else "?",
        render.usd(o.turn.cost) + ("*" if o.turn.cost_estimated else ""),
        c.finish_reason or ("incomplete" if c.incomplete else "?"),
    ]


def _record(o: Any, comparison: str) -> dict[str, Any]:
    """One target as ``--json`` prints it: the ``ask --json`` object, or its error."""
    from .. import turn_records

    if o.ok:
        return {**turn_records.turn_record(o.turn, o.profile), "comparison": comparison}
    return {
        "model": o.profile.model,
        "profile": o.profile.name,
        "error": _message(o.error),
        "exit_code": int(getattr(o.error, "exit_code", 1)),
        "conversation_id": o.conversation_id,
        "comparison": comparison,
    }
