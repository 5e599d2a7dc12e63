"""Tables: rich on a terminal, tab-separated values when piped; the rows of the replay listing."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..models import usd
from .safe import clean
from .text import isatty


def print_table(
    columns: list[str], rows: list[list[str]], *, title: str | None = None, header_on_terminal: bool = True
) -> None:
    """A table on a terminal; tab-separated values when piped: a header line, then the rows.

    An empty cell is printed as ``-`` (so ``cut`` and ``awk`` see every column), and a tab
    or a line break inside a cell as a space (one row is one line). ``header_on_terminal``
    False: a key/value listing, whose column names only the piped form prints.
    """
    rows = [[_cell(c) for c in row] for row in rows]
    if not isatty(sys.stdout):
        lines = [columns, *rows] if any(columns) else rows
        sys.stdout.write("".join("\t".join(_tsv(c) for c in row) + "\n" for row in lines))
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=clean(title) if title else title,
        box=None,
        header_style="bold",
        show_header=header_on_terminal and any(columns),
    )
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*(clean(cell) for cell in row))  # model names and prompts are untrusted
    Console().print(table)


def _cell(value: str | None) -> str:
    return value if value else "-"


def _tsv(value: str) -> str:
    return value.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def local_time(iso: str | None) -> str:
    """An index timestamp as local ``YYYY-MM-DD HH:MM``."""
    if not iso:
        return ""
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return dt.astimezone().isoformat(sep=" ", timespec="minutes")[:16]  # strftime is 5x slower


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def iter_rows(rows: Iterable[dict[str, Any]]) -> Iterable[list[str]]:
    """Listing rows as table cells: id, date, profile, model, turns (and failed ones), cost, title."""
    for r in rows:
        cost = r.get("cost")
        yield [
            r["id"],
            local_time(r.get("updated")),
            r.get("profile") or "",
            r.get("model") or "",
            str(r.get("turns", 0)) + (f", {r['failed']} failed" if r.get("failed") else ""),
            "?" if cost is None else usd(cost),
            _clean(r.get("title") or r.get("first_prompt") or ""),
        ]
