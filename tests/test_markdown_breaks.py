"""Markdown on a terminal keeps single newlines as line breaks (issue 23, item 7); --raw is untouched."""

from __future__ import annotations

import io

from rich.console import Console

from fakeserver import Reply
from gptcli import render
from pty_screen import screen_lines

POEM = "Roses are red,\nViolets are blue,\nSugar is sweet.\n\nA *second* paragraph\nin two lines.\n"


def rendered(text: str, *, chunk: int = 3) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=60, force_terminal=True, color_system=None, highlight=False)
    stream = render.MarkdownStream(console, auto_refresh=False)
    for i in range(0, len(text), chunk):
        stream.feed(text[i : i + chunk])
    stream.close()
    return screen_lines(out.getvalue())  # what a terminal shows once the live frames are erased


def test_single_newlines_stay_line_breaks() -> None:
    lines = rendered(POEM)
    assert lines[:3] == ["Roses are red,", "Violets are blue,", "Sugar is sweet."]
    assert lines[3:] == ["A second paragraph", "in two lines."]


def test_pasted_list_without_bullets_and_code_are_unchanged() -> None:
    lines = rendered("Shopping:\nmilk\neggs\n\n```\nx = 1\ny = 2\n```\n")
    assert lines[:3] == ["Shopping:", "milk", "eggs"]
    assert [line.strip() for line in lines[3:]] == ["x = 1", "y = 2"]


def test_raw_and_piped_output_keep_the_text_verbatim(server, gptcli) -> None:
    server.enqueue(Reply(text=POEM.rstrip("\n")), times=2)
    assert gptcli("ask", "a poem").stdout == POEM
    assert gptcli("ask", "--raw", "a poem").stdout == POEM
