"""``gptcli cmd`` on a terminal: the command shown, one keypress read, the line editor, the description.

The keys: Enter runs, ``e`` edits (prompt_toolkit, prefilled), ``d`` describes, Esc,
``q`` or Ctrl-C aborts; any other key shows the keys again. The terminal is put in
cbreak mode only while a key is read, and restored whatever happens. Everything from
the model is shown through ``terminal_safe``.
"""

from __future__ import annotations

import os
import select
import sys
from typing import IO

from .code import terminal_safe
from .text import color_allowed

KEYS = "[Enter] run  [e] edit  [d] describe  [Esc] abort"


class TerminalScreen:
    def __init__(self, out: IO[str] | None = None, fd: int | None = None) -> None:
        self.out = out or sys.stderr
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.color = color_allowed(self.out)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def show(self, command: str) -> None:
        shown = terminal_safe(command)
        if self.color:
            self._write(f"\n\x1b[1m{shown}\x1b[0m\n\x1b[2m{KEYS}\x1b[0m ")
        else:
            self._write(f"\n{shown}\n{KEYS} ")

    def key(self) -> str:
        """One decision from the keyboard: "run", "edit", "describe" or "abort"."""
        while True:
            ch = self._read_key()
            choice = {"\r": "run", "\n": "run", "e": "edit", "d": "describe", "\x1b": "abort", "q": "abort"}
            got = choice.get(ch.lower() if ch.isalpha() else ch)
            if got is not None:
                self._write("\n")
                return got
            self._write(f"\n{KEYS} ")

    def _read_key(self) -> str:
        import termios
        import tty

        old = termios.tcgetattr(self.fd)
        try:
            tty.setcbreak(self.fd)  # one key at a time; Ctrl-C still raises KeyboardInterrupt
            data = os.read(self.fd, 1)
            if data == b"\x1b" and select.select([self.fd], [], [], 0.05)[0]:
                os.read(self.fd, 32)  # an arrow or function key's sequence, not Esc itself
                return ""
        finally:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, old)
        if not data:
            return "\x1b"  # end of input: never a reason to run anything
        return data.decode("utf-8", "replace")

    def edit(self, command: str) -> str:
        from ..chat_input import edit_line

        return edit_line(command)

    def description(self, text: str) -> None:
        self._write(terminal_safe(text).rstrip() + "\n")

    def note(self, text: str) -> None:
        self._write(text + "\n")
