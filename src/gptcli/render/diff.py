"""Old against new, as text: per-turn answer diffs and the summary table of ``replay --diff``.

Pure functions from a ``transcript_rerun.RerunResult`` to lines of text, so the output is the
same wherever it goes (golden-file tested): the caller picks the width (the terminal's,
or ``COLUMNS``) and whether to colour (a terminal without ``NO_COLOR``). Side by side
when the width allows two readable columns (``SIDE_BY_SIDE_MIN``), unified otherwise.
Widths are display cells: CJK characters take two.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from itertools import zip_longest

from ..models import usd
from ..transcript import reply_stats, shorten
from ..transcript_rerun import NewTurn, OldTurn, RerunResult
from .safe import clean

SIDE_BY_SIDE_MIN = 120  # columns: two halves of ~58 cells each

_RED, _GREEN, _YELLOW, _BOLD, _DIM, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[1m", "\x1b[2m", "\x1b[0m"


def cell_width(ch: str) -> int:
    if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d\ufeff":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    return sum(cell_width(c) for c in text)


def wrap(line: str, width: int) -> list[str]:
    """Wrap one line to ``width`` cells (tabs as spaces).

    Breaks after the last space that fits (a space right at the break becomes the
    break); a word longer than the width, or CJK text, which has no spaces, is cut
    where the width ends. Nothing else is dropped.
    """
    line = line.expandtabs(4)
    if width < 2 or text_width(line) <= width:
        return [line]
    out: list[str] = []
    cur: list[str] = []
    used = 0
    for ch in line:
        w = cell_width(ch)
        if used + w > width and cur:
            text = "".join(cur)
            cut = text.rfind(" ") + 1
            if ch == " ":
                out.append(text)
                cur, used = [], 0
                continue
            if cut <= 0:
                out.append(text)
                cur = []
            else:
                out.append(text[:cut])
                cur = list(text[cut:])
            used = text_width("".join(cur))
        cur.append(ch)
        used += w
    out.append("".join(cur))
    return out


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - text_width(text))


class Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text


def _lines(text: str | None) -> list[str]:
    return (text or "").splitlines() or [""]


def turn_header(index: int, total: int, user: str, width: int, style: Style) -> list[str]:
    title = f"── turn {index + 1} of {total} "
    rule = title + "─" * max(0, width - text_width(title))
    return [style(rule, _BOLD), "> " + shorten(user, max(20, width - 2))]


def old_stats(old: OldTurn) -> str:
    return "old · " + reply_stats(old.model, old.usage, old.cost, old.latency)


def new_stats(new: NewTurn) -> str:
    stats = reply_stats(new.model, new.usage, new.cost, new.latency)
    return "new · " + stats + (" · incomplete" if new.incomplete else "")


def unified(old: OldTurn, new: NewTurn, style: Style) -> list[str]:
    out = [style("--- " + old_stats(old), _RED), style("+++ " + new_stats(new), _GREEN)]
    if old.text is None:
        out.append(style("(the original has no answer to this turn)", _DIM))
        out.extend(style("+" + line, _GREEN) for line in _lines(new.text))
        return out
    if old.text == new.text:
        out.append(style("(same answer)", _DIM))
        return out
    a, b = _lines(old.text), _lines(new.text)
    for line in list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]:
        if line.startswith("@@"):
            out.append(style(line, _YELLOW))
        elif line.startswith("-"):
            out.append(style(line, _RED))
        elif line.startswith("+"):
            out.append(style(line, _GREEN))
        else:
            out.append(line)
    return out


def side_by_side(old: OldTurn, new: NewTurn, width: int, style: Style) -> list[str]:
    """Two columns with a marker between: ``|`` changed, ``<`` only old, ``>`` only new."""
    left_w = (width - 3) // 2
    right_w = width - 3 - left_w
    out = []

    def row(left: str, mark: str, right: str, lc: str = "", rc: str = "") -> str:
        left_cell = style(pad(left, left_w), lc) if lc and left else pad(left, left_w)
        right_cell = style(right, rc) if rc else right
        mark_cell = style(mark, _YELLOW if mark == "|" else _RED if mark == "<" else _GREEN) if mark != " " else mark
        return (left_cell + " " + mark_cell + " " + right_cell).rstrip()

    for left, right in zip_longest(wrap(old_stats(old), left_w), wrap(new_stats(new), right_w), fillvalue=""):
        out.append(row(left, " ", right, _BOLD, _BOLD))
    out.append(("─" * left_w) + " │ " + ("─" * right_w))
    if old.text is None:
        for line in _lines(new.text):
            for piece in wrap(line, right_w):
                out.append(row("", ">", piece, "", _GREEN))
        return out
    if old.text == new.text:
        out.append(style("(same answer)", _DIM))
        return out
    a, b = _lines(old.text), _lines(new.text)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for la, lb in zip(a[i1:i2], b[j1:j2], strict=True):
                for pa, pb in zip_longest(wrap(la, left_w), wrap(lb, right_w), fillvalue=""):
                    out.append(row(pa, " ", pb))
            continue
        pairs = list(zip_longest(a[i1:i2], b[j1:j2]))
        for la, lb in pairs:
            if la is not None and lb is not None:
                for pa, pb in zip_longest(wrap(la, left_w), wrap(lb, right_w), fillvalue=""):
                    out.append(row(pa, "|", pb, _RED, _GREEN))
            elif la is not None:
                for pa in wrap(la, left_w):
                    out.append(row(pa, "<", "", _RED))
            else:
                for pb in wrap(lb or "", right_w):
                    out.append(row("", ">", pb, "", _GREEN))
    return out


def _num(x: int | None) -> str:
    return "?" if x is None else f"{x:,}"


def _secs(x: float | None) -> str:
    return "?" if x is None else f"{x:.2f} s"


def _change(old: float | None, new: float | None, kind: str) -> str:
    if old is None or new is None:
        return ""
    delta = new - old
    if kind == "tokens":
        text = f"{delta:+,.0f}"
    elif kind == "cost":
        text = ("+" if delta >= 0 else "-") + usd(abs(delta))
    else:
        text = f"{delta:+.2f} s"
    if old:
        text += f" ({delta / old:+.0%})"
    return text


def summary_table(result: RerunResult) -> list[str]:
    """Turns, tokens, cost and latency: old, new and the change, as aligned columns."""
    t = result.totals()
    old, new = t["old"], t["new"]
    n = len(result.pairs)
    rows = [
        ["", "old", "new", "change"],
        ["turns", str(n), str(n), ""],
        ["model", _models([o.model for o, _ in result.pairs]), _models([w.model for _, w in result.pairs]), ""],
        [
            "prompt tokens",
            _num(old["prompt_tokens"]),
            _num(new["prompt_tokens"]),
            _change(old["prompt_tokens"], new["prompt_tokens"], "tokens"),
        ],
        [
            "output tokens",
            _num(old["completion_tokens"]),
            _num(new["completion_tokens"]),
            _change(old["completion_tokens"], new["completion_tokens"], "tokens"),
        ],
        [
            "cost",
            "?" if old["cost"] is None else usd(old["cost"]),
            "?" if new["cost"] is None else usd(new["cost"]),
            _change(old["cost"], new["cost"], "cost"),
        ],
        ["latency", _secs(old["latency"]), _secs(new["latency"]), _change(old["latency"], new["latency"], "secs")],
        ["same answers", "", f"{sum(1 for o, w in result.pairs if o.text == w.text)} of {n}", ""],
    ]
    widths = [max(text_width(r[i]) for r in rows) for i in range(4)]
    out = []
    for k, r in enumerate(rows):
        cells = [pad(r[0], widths[0])] + [" " * (widths[i] - text_width(r[i])) + r[i] for i in (1, 2)] + [r[3]]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("─" * w for w in widths))
    return out


def _models(models: list[str | None]) -> str:
    seen = [m for i, m in enumerate(models) if m and m not in models[:i]]
    return ", ".join(seen) if seen else "?"


def render(result: RerunResult, *, width: int, color: bool = False) -> Iterator[str]:
    """Every line of the ``--diff`` output: each turn's header and diff, then the summary."""
    style = Style(color)
    sbs = width >= SIDE_BY_SIDE_MIN
    total = len(result.plan.turns)
    for i, (old, new) in enumerate(result.pairs):
        yield from turn_header(i, total, old.user, width, style)
        yield from side_by_side(old, new, width, style) if sbs else unified(old, new, style)
        yield ""
    title = "── summary "
    yield style(title + "─" * max(0, width - text_width(title)), _BOLD)
    yield from summary_table(result)


def cleaned(result: RerunResult) -> RerunResult:
    """``result`` with the replies, questions and model names safe for a terminal (render.safe)."""

    def c(text: str | None) -> str | None:
        return None if text is None else clean(text)

    pairs = [
        (
            replace(o, user=clean(o.user), text=c(o.text), model=c(o.model)),
            replace(n, text=clean(n.text), model=clean(n.model)),
        )
        for o, n in result.pairs
    ]
    return replace(result, pairs=pairs)
