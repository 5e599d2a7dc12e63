"""Output: plain text when piped, Markdown on a terminal, JSON on request; status on stderr.

The only module that imports rich, always inside functions, so that scripts piping
``gptcli ask`` never pay for it. stdout carries only the answer (or the JSON);
everything about the answer (estimates, usage, cost, notices) goes to stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import IO, Any

from .errors import GptcliError
from .models import usd


def isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_allowed(stream: IO[str]) -> bool:
    return isatty(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent)


def print_json(obj: Any, *, indent: int | None = 2) -> None:
    sys.stdout.write(dumps_json(obj, indent=indent) + "\n")
    sys.stdout.flush()


def error_line(err: GptcliError | str) -> str:
    return f"gptcli: error: {err}"


def print_error(err: GptcliError | str) -> None:
    print(error_line(err), file=sys.stderr, flush=True)


class Status:
    """Status lines on stderr: shown on a terminal, or with -v; never on stdout."""

    def __init__(self, verbose: bool = False) -> None:
        self.enabled = verbose or isatty(sys.stderr)
        self.color = color_allowed(sys.stderr)

    def __call__(self, text: str, *, warning: bool = False) -> None:
        if warning:
            self.warn(text)
        elif self.enabled:
            self._write(text, "2")

    def warn(self, text: str) -> None:
        """Warnings always show, terminal or not."""
        self._write(f"warning: {text}", "33")

    def _write(self, text: str, sgr: str) -> None:
        line = f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text
        print(line, file=sys.stderr, flush=True)


def cost_range(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return usd(lo if hi is None else hi) if (lo is not None or hi is not None) else "price unknown"
    return usd(lo) if lo == hi else f"{usd(lo)}-{usd(hi)}"


class PlainStream:
    """Plain text verbatim: no ANSI, no wrapping, one trailing newline.

    On a terminal it streams. Into a pipe or a file the reply is written with one
    write() when it is complete, so that parallel runs sharing a stdout
    (``xargs -P 8 gptcli ask ... > answers.txt``) never interleave their answers.
    """

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.live = isatty(self.out)
        self.parts: list[str] = []
        self.wrote = False

    def feed(self, text: str) -> None:
        self.wrote = True
        if self.live:
            self.out.write(text)
            self.out.flush()
        else:
            self.parts.append(text)

    def close(self) -> None:
        if self.live:
            self.out.write("\n")
            self.out.flush()
            return
        data = ("".join(self.parts) + "\n").encode("utf-8", "surrogateescape")
        self.parts = []
        self.out.flush()
        try:
            fd = self.out.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests, StringIO)
            self.out.write(data.decode("utf-8", "surrogateescape"))
            self.out.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


# --- live Markdown --------------------------------------------------------------------

_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})([^`]*)$")
_ITEM_RE = re.compile(r"^(?:[-*+]|\d{1,9}[.)])\s|^#{1,6}\s")
_UNDERLINE_RE = re.compile(r"^ {0,3}(?:=+|-+)\s*$")
CODE_LINES = 6  # a long code block is printed (highlighted) this many finished lines at a time


class _Fence:
    """An open code fence: its marker (```` ``` ```` or ``~~~``, maybe longer) and its language."""

    def __init__(self, indent: str, marker: str, info: str) -> None:
        self.indent = indent
        self.marker = marker
        self.lexer = info.strip().split(" ", 1)[0] or "text"

    @classmethod
    def opening(cls, line: str) -> _Fence | None:
        m = _FENCE_RE.match(line.rstrip("\n"))
        return cls(m.group(1), m.group(2), m.group(3)) if m else None

    def closes(self, line: str) -> bool:
        stripped = line.strip()
        return (
            len(line) - len(line.lstrip(" ")) <= 3
            and stripped.startswith(self.marker)
            and stripped == self.marker[0] * len(stripped)
        )


class MarkdownStream:
    """Live Markdown on a terminal whose cost per token stays flat as the reply grows.

    Finished blocks are printed once and never rendered again; only the unfinished
    tail is live, redrawn by rich at a fixed rate rather than on every token. The tail
    is kept short: a block ends at a blank line outside a code fence; a long code
    block is printed a few finished lines at a time (highlighted with the same lexer
    and padding, so the seams do not show); a long list or paragraph is cut at a line
    boundary (preferably before a list item or heading). A naive re-render of the
    whole reply on every token is quadratic in its length (bench/bench_render.py).
    """

    def __init__(
        self,
        console: Any = None,
        refresh_per_second: float = 8,
        *,
        auto_refresh: bool = True,
        code_theme: str = "monokai",
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(highlight=False)
        self.code_theme = code_theme
        self.tail = ""
        self._fence: _Fence | None = None  # a code block whose top is printed; the tail holds its next lines
        self._code_top = False  # the printed part of that block had its top padding
        self._gap = False  # a blank line is due before the next block
        self._printed = False
        self._code_bg: Any = None
        self._checked = 0  # tail length at the last settle (an endless line is checked now and then)
        width, height = self.console.size
        self.max_lines = max(4, min(16, height // 2))
        self.max_chars = self.max_lines * max(40, width)
        self._view: tuple[str, _Fence | None, bool] = ("", None, False)
        self.live = Live(
            _Lazy(self),
            console=self.console,
            refresh_per_second=refresh_per_second,
            auto_refresh=auto_refresh,
            transient=True,
            vertical_overflow="visible",
        )
        self.live.start()

    # -- feeding -----------------------------------------------------------------------

    def feed(self, text: str) -> None:
        self.tail += text
        if "\n" in text or len(self.tail) > self._checked + self.max_chars:
            self._settle()
            self._checked = len(self.tail)
        self._view = (self.tail, self._fence, self._gap and self._printed)

    def refresh(self) -> None:
        """Redraw the live tail now (rich also does it on its own, ``refresh_per_second`` times)."""
        self.live.refresh()

    def close(self) -> None:
        self._settle()
        self._view = ("", None, False)
        self.live.stop()
        if self._fence is not None:
            self._print_code(self.tail, last=True)
            self._fence = None
        elif self.tail.strip():
            self._print_md(self.tail)
        self.tail = ""

    def _settle(self) -> None:
        """Print what is finished, leaving a short unfinished tail."""
        while self._settle_code() if self._fence is not None else self._settle_markdown():
            pass

    def _settle_code(self) -> bool:
        fence = self._fence
        assert fence is not None
        end = self.tail.rfind("\n") + 1
        if not end:
            if len(self.tail) > 4 * self.max_chars:  # one endless line
                self._print_code(self.tail, last=False)
                self.tail = ""
            return False
        lines = self.tail[:end].splitlines(keepends=True)
        for i, line in enumerate(lines):
            if fence.closes(line):
                self._print_code("".join(lines[:i]), last=True)
                self.tail = "".join(lines[i + 1 :]) + self.tail[end:]
                self._fence = None
                self._gap = True
                return True
        if len(lines) >= CODE_LINES or end >= self.max_chars:
            self._flush_code(lines, end)
        return False

    def _flush_code(self, lines: list[str], end: int) -> None:
        # A chunk never ends on a blank line (rich's Syntax would drop it): keep those in the tail.
        n = len(lines)
        while n > 1 and not lines[n - 1].strip():
            n -= 1
        cut = sum(len(line) for line in lines[:n])
        self._print_code(self.tail[:cut], last=False)
        self.tail = self.tail[cut:]

    def _settle_markdown(self) -> bool:
        end = self.tail.rfind("\n") + 1
        if not end:
            if len(self.tail) > 4 * self.max_chars:  # one endless line: print it as it stands
                self._print_md(self.tail)
                self.tail = ""
                self._gap = False
            return False
        lines = self.tail[:end].splitlines(keepends=True)
        pos = stable = 0
        fence: _Fence | None = None
        fence_at = fence_line = 0
        table = False
        for line in lines:
            after = pos + len(line)
            if fence is not None:
                if fence.closes(line):
                    fence = None
                    stable = after
            elif (opened := _Fence.opening(line)) is not None:
                fence, fence_at, fence_line = opened, pos, after
            elif not line.strip():
                stable = after
                table = False
            elif line.lstrip().startswith("|"):
                table = True
            pos = after
        if stable:
            self._print_md(self.tail[:stable])
            self.tail = self.tail[stable:]
            self._gap = True
            return True
        if fence is not None:
            if not fence.indent and (
                end - fence_line >= self.max_chars or self.tail.count("\n", fence_line, end) >= self.max_lines
            ):
                # A long code block: print its top now, then a few finished lines at a time.
                if self.tail[:fence_at].strip():
                    self._print_md(self.tail[:fence_at])
                    self._gap = True
                self._fence = fence
                self._code_top = False
                self.tail = self.tail[fence_line:]
                return True
            return False
        if (len(lines) >= self.max_lines or end >= self.max_chars) and (not table or len(lines) >= 200):
            cut = self._forced_cut(lines)
            if cut:
                self._print_md(self.tail[:cut])
                self.tail = self.tail[cut:]
                self._gap = False
                return True
        return False

    @staticmethod
    def _forced_cut(lines: list[str]) -> int:
        """Where to cut a long block: before the last list item or heading, else after the last whole line."""
        pos = [0]
        for line in lines:
            pos.append(pos[-1] + len(line))
        for i in range(len(lines) - 1, 0, -1):
            if _ITEM_RE.match(lines[i]):
                return pos[i]
        n = len(lines)
        while n > 1 and _UNDERLINE_RE.match(lines[n - 1]):  # a setext underline belongs to its heading
            n -= 1
        return pos[n]

    # -- printing finished parts ---------------------------------------------------

    def _md(self, text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(text, code_theme=self.code_theme)

    def _code_background(self) -> Any:
        if self._code_bg is None:
            from rich.syntax import Syntax

            self._code_bg = Syntax.get_theme(self.code_theme).get_background_style()
        return self._code_bg

    def _code(self, code: str, lexer: str, top: bool, bottom: bool) -> Any:
        from rich.syntax import Syntax

        return Syntax(code, lexer, theme=self.code_theme, word_wrap=True, padding=(int(top), 1, int(bottom), 1))

    def _emit(self, renderable: Any, *, trim: bool) -> None:
        from rich.segment import Segment

        lines = self.console.render_lines(renderable, self.console.options, pad=False)
        if trim:
            while lines and _blank(lines[0]):
                lines.pop(0)
            while lines and _blank(lines[-1]):
                lines.pop()
        if not lines:
            return
        if self._gap and self._printed:
            lines.insert(0, [])
        self.console.print(_Lines([[*line, Segment.line()] for line in lines]), end="")
        self._printed = True

    def _print_md(self, text: str) -> None:
        self._emit(self._md(text), trim=True)

    def _print_code(self, code: str, *, last: bool) -> None:
        assert self._fence is not None
        code = code.rstrip() if last else code[:-1] if code.endswith("\n") else code
        if not code and not last:
            return
        if not code and self._code_top:  # only the bottom padding is left: one empty code line
            last = False
        self._emit(self._code(code, self._fence.lexer, not self._code_top, last), trim=False)
        self._code_top = True
        self._gap = False


def _blank(line: list[Any]) -> bool:
    """An empty line without a background (code block padding is not blank)."""
    for seg in line:
        if seg.text.strip():
            return False
        style = seg.style
        if style is not None and (style.bgcolor is not None or style.reverse):
            return False
    return True


class _Lines:
    """Already rendered lines, printed as they are."""

    def __init__(self, lines: list[list[Any]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Any, options: Any) -> Any:
        for line in self.lines:
            yield from line


class _Lazy:
    """Renders the tail when rich refreshes, not when a token arrives."""

    def __init__(self, stream: MarkdownStream) -> None:
        self.stream = stream

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        tail, fence, gap = self.stream._view
        if not tail.strip():
            return
        if gap:
            yield Text("")
        if fence is not None:
            # Unhighlighted until printed (a few lines later): rich's Syntax costs milliseconds a redraw.
            from rich.padding import Padding

            bg = self.stream._code_background()
            yield Padding(Text(tail.rstrip("\n"), style=bg), (0, 1), style=bg, expand=True)
        else:
            yield self.stream._md(tail)


def print_markdown(text: str) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(text, code_theme="monokai"))


def print_table(columns: list[str], rows: list[list[str]], *, title: str | None = None) -> None:
    """A table on a terminal; tab-separated values when piped (easy to cut/awk)."""
    if not isatty(sys.stdout):
        for row in rows:
            sys.stdout.write("\t".join(row) + "\n")
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=None, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# --- batch ---------------------------------------------------------------------------------


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
