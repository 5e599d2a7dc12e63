"""Keys typed while a reply is drawn live must not be echoed into the drawing.

rich's live display redraws its region by moving the cursor up as many lines as it
drew last time. Anything the terminal echoes meanwhile moves the cursor behind its
back: the ``^C`` of a Ctrl-C (or a word typed ahead) written after a full-width line
wraps onto a new one, the redraw then stops one line short, and the top line of the
reply is left on the screen and printed again under it. So while a reply is live, the
terminal's echo is switched off (ECHO; Ctrl-C still interrupts, and typed-ahead keys
still wait in the input queue for the next prompt) and switched back when it closes.

Only for the foreground process of a POSIX terminal: changing a terminal's modes from
the background would stop the process (SIGTTOU), and elsewhere there is nothing to do.
"""

from __future__ import annotations

import os
from typing import IO, Any


class EchoOff:
    """Switch the echo of ``stream``'s terminal off until ``restore()`` (a no-op elsewhere)."""

    def __init__(self, stream: IO[str] | Any) -> None:
        self.fd: int | None = None
        self.saved: list[Any] | None = None
        try:
            import termios

            fd = stream.fileno()
            if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
                return
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] = saved[3] & ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSANOW, quiet)  # TCSANOW: keep what was typed ahead
        except (ImportError, AttributeError, OSError, ValueError):
            return  # not a terminal, or not ours to change: nothing to undo
        except Exception:  # termios.error
            return
        self.fd, self.saved = fd, saved

    @property
    def active(self) -> bool:
        return self.saved is not None

    def restore(self) -> None:
        if self.fd is None or self.saved is None:
            return
        fd, saved = self.fd, self.saved
        self.fd = self.saved = None
        try:
            import termios

            termios.tcsetattr(fd, termios.TCSANOW, saved)
        except Exception:  # the terminal went away: nothing left to restore
            pass
