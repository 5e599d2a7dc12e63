"""The tool loop on the terminal: the question before a call, and one line per call.

``TerminalAsker`` shows a call not on the allow list (the tool, its arguments as indented
JSON, both sanitised: they are the model's words) and reads yes / no / always from the
terminal. ``call_line`` is the status line of a finished call; ``refusal_line`` the
warning every refused call gets, terminal or not.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..tools.base import ToolSpec
from ..tools.calls import CallRecord, pretty_arguments, short_arguments
from ..tools.permission import Answer, parse_answer
from .safe import clean

ARGUMENTS_SHOWN = 4_000  # characters of the arguments shown before asking (the rest is said to be cut)


def can_ask() -> bool:
    """Asking needs a person at a terminal: stdin to read the answer, stderr to show the call."""
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class TerminalAsker:
    """Asks on stderr, reads the answer from stdin; EOF (Ctrl-D) is "no"."""

    def __init__(self, read: Callable[[], str] | None = None) -> None:
        self._read = read or sys.stdin.readline

    def __call__(self, spec: ToolSpec, arguments: Any) -> Answer:
        shown = pretty_arguments(arguments)
        if len(shown) > ARGUMENTS_SHOWN:
            shown = shown[:ARGUMENTS_SHOWN] + f"\n… ({len(shown) - ARGUMENTS_SHOWN:,} more characters)"
        name = clean(spec.qualified)
        err = sys.stderr
        err.write(f"\nThe model calls {name}")
        if spec.description:
            err.write(f" ({clean(spec.description.splitlines()[0])[:100]})")
        err.write(f":\n{clean(shown)}\n")
        while True:
            err.write(f"Run it? [y]es / [n]o / [a]lways for {name}: ")
            err.flush()
            line = self._read()
            if not line:  # EOF
                err.write("\n")
                return "no"
            answer = parse_answer(line)
            if answer is not None:
                return answer


def call_line(record: CallRecord) -> str:
    """One line for a finished call: ``tool fs.read_file {"path": "a"}: ok, 120 characters, 0.02 s``."""
    args = short_arguments(record.arguments, 80)
    if record.status == "ok":
        what = "error" if record.is_error else "ok"
        size = f"{len(record.result):,} characters" + (" (truncated)" if record.truncated else "")
        return clean(f"tool {record.tool} {args}: {what}, {size}, {record.duration:.2f} s")
    return clean(f"tool {record.tool} {args}: {record.status.replace('_', ' ')}: {record.result.splitlines()[0]}")


def refusal_line(record: CallRecord) -> str | None:
    """The warning for a call that was refused, or failed (None for one that went well, or that
    the user declined: they know)."""
    if record.status in ("refused", "error") or (record.status == "ok" and record.is_error):
        return clean(f"tool {record.tool}: {record.result.splitlines()[0][:200]}")
    return None
