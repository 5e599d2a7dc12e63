"""Batch progress on stderr, and the one-line plan and summary of a batch."""

from __future__ import annotations

import sys
import time
from typing import Any

from ..models import usd
from .safe import clean
from .text import Status, cost_range, isatty


def _n(count: int, what: str) -> str:
    """``1 bad line``, ``2 bad lines``."""
    return f"{count:,} {what}" + ("" if count == 1 else "s")


def _rate(count: int, elapsed: float) -> str:
    return f"{count / elapsed:.1f}/s" if elapsed > 0 and count else "-"


def batch_plan_text(plan: Any) -> str:
    """One line on what a batch will send (``batch.Plan``)."""
    bound = {"upper bound": "≤", "estimate": "~"}.get(plan.tokens, "")
    parts = [f"batch: {plan.to_send:,} items"]
    extra = []
    if plan.skipped:
        extra.append(f"{plan.skipped:,} already done")
    if plan.invalid:
        extra.append(f"{_n(plan.invalid, 'bad line')} skipped")
    if plan.too_long:
        extra.append(f"{plan.too_long:,} too long")
    if extra:
        parts[0] += f" ({', '.join(extra)})"
    parts.append(", ".join(m.model for m in plan.models) or "-")
    parts.append(f"{bound}{plan.prompt_tokens:,} prompt tokens")
    parts.append(cost_range(plan.cost_min, plan.cost_max) if plan.to_send else "$0")
    if plan.min_seconds:
        parts.append(f"at least {plan.min_seconds:,.0f} s at the rate limits")
    return " · ".join(parts)


def batch_summary_text(s: Any) -> str:
    """One line at the end of a batch (``batch.Summary``)."""
    head = "batch interrupted" if s.interrupted else "batch"
    counts = [f"{s.done:,} done", f"{s.failed:,} failed"]
    if s.skipped:
        counts.append(f"{s.skipped:,} skipped (already done)")
    if s.invalid:
        counts.append(f"{_n(s.invalid, 'bad line')} skipped")
    if s.interrupted and s.missing:
        counts.append(f"{s.missing:,} not done")
    tail = [usd(s.cost) if s.cost is not None else "cost unknown", f"{s.elapsed:.1f} s"]
    if s.done + s.failed and not s.batch_ids:
        tail.append(_rate(s.done + s.failed, s.elapsed))
    if s.retries:
        tail.append(f"{s.retries:,} {'retry' if s.retries == 1 else 'retries'}")
    return f"{head}: {', '.join(counts)} · {' · '.join(tail)} -> {s.output}"


def batch_models_text(s: Any, projections: Any = None) -> list[str]:
    """``--models``: a line per model (done, failed, cost); with ``--sample`` its projection."""
    from .compare import one_line

    lines = []
    for m in s.models:
        cost = usd(m.cost) if m.cost is not None else "cost unknown"
        lines.append(f"{one_line(m.model)}: {m.done:,} done, {m.failed:,} failed · {cost}")
    for p in projections or ():
        cost = f"~{usd(p.cost)}" if p.cost is not None else "cost unknown"
        secs = f"~{p.seconds:.1f} s" if p.seconds is not None else "time unknown"
        lines.append(
            f"{one_line(p.model)}: the whole file ({p.items:,} items) would cost {cost} and take {secs}"
            f" (from {p.sampled:,} sampled)"
        )
    return lines


class BatchProgress:
    """Batch progress on stderr: a live bar on a terminal (done, failed, rate, ETA, cost);
    elsewhere nothing, or with -v a plain line every few seconds. Notices print above
    the bar: ``debug`` only with -v, ``info`` on a terminal or with -v, ``note`` and
    ``warning`` always."""

    def __init__(self, *, verbose: bool = False, every: float = 5.0) -> None:
        self.tty = isatty(sys.stderr)
        self.verbose = verbose
        self.status = Status(verbose)
        self.every = every
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def start(self, total: int) -> None:
        if not self.tty or self._bar is not None:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True, highlight=False)
        self._bar = Progress(
            TextColumn("[bold]batch[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]}[/] failed"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[cost]}"),
            TextColumn("{task.fields[state]}"),
            console=console,
            transient=False,
            refresh_per_second=8,
        )
        self._task = self._bar.add_task("batch", total=total or None, failed=0, rate="", cost="", state="")
        self._bar.start()

    def update(self, p: Any) -> None:
        finished = p.done + p.failed
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=finished,
                total=p.total or None,
                failed=f"{p.failed:,}",
                rate=_rate(finished, p.elapsed),
                cost=usd(p.cost) if p.cost else "",
                state=p.status or "",
            )
            return
        if not self.verbose:
            return
        now = time.monotonic()
        if now - self._last < self.every and finished < p.total:
            return
        self._last = now
        line = f"batch: {finished:,}/{p.total:,} · {p.failed:,} failed · {_rate(finished, p.elapsed)}"
        if p.status:
            line += f" · {p.status}"
        if p.cost:
            line += f" · {usd(p.cost)}"
        print(line, file=sys.stderr, flush=True)

    def notice(self, text: str, level: str = "info") -> None:
        text = clean(text)  # may quote a server's words
        if level == "debug" and not self.verbose:
            return
        if level == "info" and not self.status.enabled:
            return
        if self._bar is not None:
            style = "yellow" if level == "warning" else "dim" if level in ("debug", "info") else None
            prefix = "warning: " if level == "warning" else ""
            self._bar.console.print(prefix + text, style=style, markup=False, highlight=False)
        elif level == "warning":
            self.status.warn(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
