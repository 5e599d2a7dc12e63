"""Code blocks in a reply: what ``-x/--extract``, chat's ``/x``, batch's ``extract`` field and ``gptcli cmd`` take.

A fenced block opens with a line of at least three backticks or tildes (any indentation,
an optional info string whose first word is the language) and closes with a line of the
same character, at least as long, and nothing else. So a ```` ```` ```` block may hold
```` ``` ```` lines, and a ``~~~`` line inside a ```` ``` ```` block is content, as in
CommonMark. An unclosed block runs to the end of the reply (a reply cut short by
``max_tokens`` still gives its code), with a warning. The opening fence's indentation is
taken off the block's lines (a block inside a list item).

No block at all: the whole reply, with a warning, so a script still gets something.
Pure: no I/O, no printing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
WHICH = ("first", "all")


@dataclass(frozen=True)
class Block:
    text: str  # the lines between the fences, without the last line ending
    language: str | None
    closed: bool = True


@dataclass(frozen=True)
class Extracted:
    text: str
    blocks: int  # how many blocks the text is made of (0: the whole reply)
    warning: str | None = None


def blocks(reply: str) -> list[Block]:
    """Every fenced code block of ``reply``, in order."""
    lines = reply.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        i += 1
        if m is None:
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        if fence[0] == "`" and "`" in info:
            continue  # inline code such as ```a``` on its own line, not a fence
        indent = len(m.group("indent"))
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        closed = False
        while i < len(lines):
            line = lines[i]
            i += 1
            if close.match(line):
                closed = True
                break
            body.append(_dedent(line, indent))
        language = info.split()[0] if info else None
        out.append(Block("\n".join(body), language, closed))
    return out


def _dedent(line: str, indent: int) -> str:
    n = 0
    while n < indent and n < len(line) and line[n] in " \t":
        n += 1
    return line[n:]


def extract(reply: str, which: str = "first") -> Extracted:
    """The first block (``which="first"``) or every block a blank line apart (``"all"``)."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, not {which!r}")
    found = blocks(reply)
    if not found:
        return Extracted(reply, 0, "the reply has no fenced code block; printing all of it")
    chosen = found[:1] if which == "first" else found
    warning = None
    if not chosen[-1].closed:
        warning = "the code block is not closed (was the reply cut short?); taking it to the end"
    return Extracted("\n\n".join(b.text for b in chosen), len(chosen), warning)
