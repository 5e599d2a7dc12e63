"""Code and commands taken from a reply, printed plain: ``-x``, chat's ``/x``, ``gptcli cmd``.

Into a pipe or a file the text goes out byte for byte (a script gets exactly the code).
On a terminal, control characters other than newline and tab are shown as ``\\xNN``
escapes, so a reply cannot move the cursor, retitle the window or hide what will run.
"""

from __future__ import annotations

import sys
from typing import IO

from ..printable import escape_controls
from .text import PlainStream, isatty

terminal_safe = escape_controls  # every control character but newline and tab shown as \xNN


def print_code(text: str, out: IO[str] | None = None) -> None:
    """``text`` and one newline, escaped on a terminal only."""
    stream = out or sys.stdout
    printer = PlainStream(stream)
    printer.feed(terminal_safe(text) if isatty(stream) else text)
    printer.close()
