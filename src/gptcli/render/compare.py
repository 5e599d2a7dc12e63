"""A comparison's answers: blocks under each model's heading, side by side, and the summary table.

On a terminal each answer is printed under its heading as it arrives (Markdown unless
--raw), or all side by side once every one has arrived; then a table of latency,
tokens, cost and finish reason. Piped, each answer is one block under a
``--- label ---`` line, in the order the targets were given, and no table.
Labels (model and profile names) are untrusted: one line, control characters made
visible, even in a pipe; the answers stay byte-exact in a pipe.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from .safe import clean
from .text import isatty

# Narrower than this per column, side by side is unreadable: one under another instead.
MIN_COLUMN = 30


def one_line(label: str) -> str:
    """A label fit for a heading: control characters visible, line breaks as spaces."""
    return clean(label.replace("\r\n", " ").replace("\n", " ").replace("\t", " "))


def heading(label: str) -> str:
    return f"--- {one_line(label)} ---"


class Blocks:
    """Prints each answer as one block: on a terminal as it comes, piped in the order given."""

    def __init__(self, labels: Sequence[str], *, markdown: bool) -> None:
        self.labels = list(labels)
        self.tty = isatty(sys.stdout)
        self.markdown = markdown and self.tty
        self._held: dict[int, tuple[str | None, str | None]] = {}
        self._next = 0

    def add(self, index: int, text: str | None, error: str | None = None) -> None:
        """Target ``index`` finished with ``text`` (or failed with ``error``)."""
        if self.tty:
            self._print(index, text, error)
            return
        self._held[index] = (text, error)
        while self._next in self._held:  # piped: the order given, each as soon as it can be
            self._print(self._next, *self._held.pop(self._next))
            self._next += 1

    def flush(self) -> None:
        """Print every answer held back for order (interrupted: the ones before them never came)."""
        for index in sorted(self._held):
            self._print(index, *self._held.pop(index))

    def _print(self, index: int, text: str | None, error: str | None) -> None:
        label = self.labels[index]
        if not self.tty:
            if error is None:  # a failed target has no block: its error is on stderr
                body = text or ""
                sys.stdout.write(f"{heading(label)}\n{body}{'' if body.endswith(chr(10)) else chr(10)}")
                sys.stdout.flush()
            return
        from rich.console import Console

        console = Console(highlight=False)
        console.rule(f"[bold]{_escape(one_line(label))}[/bold]", align="left")
        if error is not None:
            console.print(f"[red]failed: {_escape(one_line(error))}[/red]")
        elif self.markdown:
            from .markdown import print_markdown

            print_markdown(text or "")
        else:
            sys.stdout.write(clean(text or "") + "\n")
            sys.stdout.flush()
        console.print()


def fits_side_by_side(count: int, width: int) -> bool:
    return count > 0 and width // count >= MIN_COLUMN


def print_side_by_side(labels: Sequence[str], answers: Sequence[str | None], *, markdown: bool) -> None:
    """Every answer in a column of its own under its label (a failed one: ``failed``)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .linebreaks import markdown as md_text

    table = Table(show_lines=False, expand=True, header_style="bold")
    for label in labels:
        table.add_column(one_line(label), overflow="fold", ratio=1)
    cells: list[Any] = []
    for text in answers:
        if text is None:
            cells.append(Text("failed", style="red"))
        elif markdown:
            cells.append(md_text(clean(text)))
        else:
            cells.append(Text(clean(text)))
    table.add_row(*cells)
    Console().print(table)


def print_summary(rows: Sequence[Sequence[str]]) -> None:
    """The table after a comparison: one row per target (already formatted cells)."""
    from .tables import print_table

    columns = ["model", "latency", "prompt", "completion", "cost", "finish"]
    print_table(columns, [[one_line(c) for c in row] for row in rows])


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
