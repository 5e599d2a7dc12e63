"""A command on a pseudo-terminal, and the screen a user would see (pyte, a VT100 emulator).

Shared by the terminal tests of issue 23. ``Pty`` answers prompt_toolkit's cursor
position requests as a terminal does; ``screen_lines`` replays everything the program
wrote into an emulated terminal of the same size, scrollback included, so a test can
assert on what is visible rather than on escape sequences.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import pexpect

from helpers import CPR, SRC, expect_on_pty

COLS, ROWS = 100, 30


class Pty:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full = dict(os.environ)
        full["PYTHONPATH"] = str(SRC) + os.pathsep + full.get("PYTHONPATH", "")
        full.pop("PYTHONSAFEPATH", None)
        full.update(TERM="xterm", COLUMNS=str(COLS), LINES=str(ROWS))
        full.update(env or {})
        self.child = pexpect.spawn(
            sys.executable, ["-m", "gptcli", *args], env=full, dimensions=(ROWS, COLS), encoding="utf-8", timeout=30
        )
        self.seen: list[str] = []

    def expect(self, pattern: str) -> str:
        return expect_on_pty(self.child, self.seen, pattern, "gptcli")

    def prompt(self) -> None:
        self.expect(re.escape("Esc-Enter: new line"))  # chat's bottom toolbar: ready for input

    def send(self, text: str) -> None:
        self.child.send(text)

    def finish(self) -> int:
        while self.child.expect([CPR, pexpect.EOF]) == 0:
            self.seen.append(self.child.before + str(self.child.after))
            self.child.send("\x1b[5;1R")
        self.seen.append(self.child.before)
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)

    def output(self) -> str:
        return "".join(self.seen)


def screen_lines(raw: str) -> list[str]:
    """Every non-blank line of the emulated terminal, scrollback first."""
    import pyte

    screen: Any = pyte.HistoryScreen(COLS, ROWS, history=5000)
    screen.set_mode(pyte.modes.LNM)
    pyte.Stream(screen).feed(raw)
    history = ["".join(ch.data for ch in line.values()) for line in screen.history.top]
    return [line.rstrip() for line in [*history, *screen.display] if line.strip()]
