"""``replay --rerun`` with several targets: a diff per target against the original, then one table.

Each target's section is the ``--diff`` view of ``render.diff`` under the target's
heading; the summary puts the original and every target in one table (turns, answers
unchanged, output tokens, cost and latency, each with its change against the original).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..models import usd
from ..transcript import RerunResult
from .diff import (
    _BOLD,
    SIDE_BY_SIDE_MIN,
    Style,
    _change,
    _num,
    _secs,
    pad,
    side_by_side,
    text_width,
    turn_header,
    unified,
)
from .safe import clean


def render_many(
    results: Sequence[RerunResult], labels: Sequence[str], *, width: int, color: bool = False
) -> Iterator[str]:
    """Every line: per target its heading and its turns' diffs; then the one summary table."""
    style = Style(color)
    sbs = width >= SIDE_BY_SIDE_MIN
    for label, result in zip(labels, results, strict=True):
        title = f"══ {clean(label)} "
        yield style(title + "═" * max(0, width - text_width(title)), _BOLD)
        total = len(result.plan.turns)
        if not result.pairs:
            yield "(no reply: this re-run failed)"
        for i, (old, new) in enumerate(result.pairs):
            yield from turn_header(i, total, old.user, width, style)
            yield from side_by_side(old, new, width, style) if sbs else unified(old, new, style)
            yield ""
    title = "── summary "
    yield style(title + "─" * max(0, width - text_width(title)), _BOLD)
    yield from summary_rows(results, labels)


def summary_rows(results: Sequence[RerunResult], labels: Sequence[str]) -> list[str]:
    """The original, then each target: turns, same answers, output tokens, cost, latency (and changes)."""
    header = ["", "turns", "same answers", "output tokens", "cost", "change", "latency", "change"]
    rows = [header]
    if results:
        first = results[0]
        old = _old_totals(first)
        n = len(first.plan.turns)
        rows.append(
            ["original", str(n), "", _num(old["completion_tokens"]), _usd(old["cost"]), "", _secs(old["latency"]), ""]
        )
    for label, result in zip(labels, results, strict=True):
        t = result.totals()
        old, new = t["old"], t["new"]
        done = len(result.pairs)
        same = sum(1 for o, w in result.pairs if o.text == w.text)
        rows.append(
            [
                clean(label),
                f"{done} of {len(result.plan.turns)}",
                f"{same} of {done}",
                _num(new["completion_tokens"]),
                _usd(new["cost"]),
                _change(old["cost"], new["cost"], "cost"),
                _secs(new["latency"]),
                _change(old["latency"], new["latency"], "secs"),
            ]
        )
    widths = [max(text_width(r[i]) for r in rows) for i in range(len(header))]
    out = []
    for k, r in enumerate(rows):
        cells = [pad(r[0], widths[0])] + [" " * (widths[i] - text_width(r[i])) + r[i] for i in range(1, len(r))]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("─" * w for w in widths))
    return out


def _old_totals(result: RerunResult) -> dict[str, Any]:
    """The original's totals over all its turns (not only those a failed re-run reached)."""
    from dataclasses import replace

    from ..transcript import NewTurn

    whole = replace(result, pairs=[(o, NewTurn("", "", None, None, 0.0, None, False)) for o in result.plan.turns])
    return whole.totals()["old"]


def _usd(x: float | int | None) -> str:
    return "?" if x is None else usd(float(x))
