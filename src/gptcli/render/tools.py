"""The tool loop on the terminal: the question before a call.

``TerminalAsker`` shows a call not on the allow list (the tool, its arguments as indented
JSON, both sanitised: they are the model's words) and reads yes / no / always from the
terminal. The line each finished call gets is ``CallRecord.line`` / ``.warning``, printed
through ``Status`` (which sanitises).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..tools.base import ToolSpec
from ..tools.calls import pretty_arguments
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
