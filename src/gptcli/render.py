"""Output: plain text when piped, Markdown on a terminal, JSON on request; status on stderr.

The only module that imports rich, always inside functions, so that scripts piping
``gptcli ask`` never pay for it. stdout carries only the answer (or the JSON);
everything about the answer (estimates, usage, cost, notices) goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

from .errors import GptcliError


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


def usd(x: float | None) -> str:
    if x is None:
        return "price unknown"
    if x == 0:
        return "$0"
    if x < 0.0001:
        return f"${x:.6f}".rstrip("0")
    if x < 0.01:
        return f"${x:.5f}".rstrip("0")
    return f"${x:.4f}".rstrip("0").rstrip(".")


def cost_range(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return usd(lo if hi is None else hi) if (lo is not None or hi is not None) else "price unknown"
    return usd(lo) if lo == hi else f"{usd(lo)}-{usd(hi)}"


class PlainStream:
    """Streams text to a pipe verbatim: no ANSI, no wrapping, one trailing newline."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.wrote = False

    def feed(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self.wrote = True

    def close(self) -> None:
        self.out.write("\n")
        self.out.flush()


def _split_stable(text: str) -> int:
    """Index up to which ``text`` is finished Markdown blocks (ends at a blank line outside a code fence)."""
    stable = 0
    in_fence = False
    fence = ""
    pos = 0
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # the last, unfinished line
        pos += len(line)
        stripped = line.strip()
        if in_fence:
            if stripped.startswith(fence) and stripped.strip("`~") == "":
                in_fence = False
                stable = pos
        elif stripped.startswith(("```", "~~~")):
            in_fence = True
            fence = stripped[:3]
        elif stripped == "":
            stable = pos
    return stable


class MarkdownStream:
    """Live Markdown on a terminal whose cost per token stays flat as the reply grows.

    Finished blocks (up to a blank line outside a code fence) are printed once and
    never rendered again; only the unfinished tail is live, redrawn by rich at a
    fixed rate rather than on every token. A naive re-render of the whole reply on
    every token is quadratic in its length.
    """

    def __init__(self, console: Any = None, refresh_per_second: float = 8) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=False, highlight=False)
        self.done = ""
        self.tail = ""
        self.live = Live(
            console=self.console,
            refresh_per_second=refresh_per_second,
            transient=True,
            vertical_overflow="visible",
        )
        self.live.start()

    def _md(self, text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(text, code_theme="monokai")

    def feed(self, text: str) -> None:
        self.tail += text
        if "\n" not in text:
            self.live.update(_Lazy(self), refresh=False)
            return
        cut = _split_stable(self.tail)
        if cut:
            block, self.tail = self.tail[:cut], self.tail[cut:]
            self.done += block
            self.live.console.print(self._md(block))
        self.live.update(_Lazy(self), refresh=False)

    def close(self) -> None:
        self.live.update("", refresh=False)
        self.live.stop()
        if self.tail.strip():
            self.console.print(self._md(self.tail))
        self.done += self.tail
        self.tail = ""


class _Lazy:
    """Renders the tail when rich refreshes, not when a token arrives."""

    def __init__(self, stream: MarkdownStream) -> None:
        self.stream = stream

    def __rich__(self) -> Any:
        return self.stream._md(self.stream.tail)


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
