"""While a model thinks: the spinner on stderr, the reasoning shown dimmed, and its folded form.

``Spinner`` draws one line on stderr ("⠋ waiting 3 s", then "⠙ thinking 12 s" once
reasoning arrives) from a thread, only on a terminal, and erases it completely
(carriage return and erase-line) when stopped or when a status line must be printed.
``ReasoningStream`` writes the thinking to stderr as it arrives, dimmed on a terminal.
Text from the model goes through ``printable`` first: no escape sequence of a reply
ever reaches the terminal.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

from ..models import Usage
from ..printable import strip_controls
from .text import color_allowed, isatty

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_ERASE = "\r\x1b[2K"
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
printable = strip_controls  # C0 and C1 controls other than newline and tab removed (ESC, CR, BEL, CSI...)


class Spinner:
    """A sign of life on stderr from sending a request until the first answer token."""

    interval = 0.1

    def __init__(self, out: IO[str] | None = None, *, enabled: bool | None = None) -> None:
        self.out = out or sys.stderr
        self.enabled = isatty(self.out) if enabled is None else enabled
        self.label = "waiting"
        self._start = time.monotonic()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._shown = False

    def start(self) -> None:
        if not self.enabled or self._thread is not None or self._done.is_set():
            return
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="gptcli-spinner", daemon=True)
        self._thread.start()

    def thinking(self) -> None:
        """Reasoning has begun to arrive."""
        self.label = "thinking"

    def _run(self) -> None:
        frame = 0
        while True:
            with self._lock:
                if self._done.is_set():
                    return
                seconds = int(time.monotonic() - self._start)
                self._write(f"{_ERASE}{_FRAMES[frame % len(_FRAMES)]} {self.label} {seconds} s")
                self._shown = True
            frame += 1
            if self._done.wait(self.interval):
                return

    def _write(self, data: str) -> None:
        try:
            self.out.write(data)
            self.out.flush()
        except (OSError, ValueError):
            self._done.set()

    def clear(self) -> None:
        """Erase the line; it is redrawn on the next tick."""
        with self._lock:
            self._erase()

    def _erase(self) -> None:
        if self._shown:
            self._write(_ERASE)
            self._shown = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Erase the line and keep it away while a status line is printed."""
        with self._lock:
            self._erase()
            yield

    def stop(self) -> None:
        """Stop for good and leave no trace of the line."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        self.clear()


class ReasoningStream:
    """The model's thinking on stderr as it streams: dimmed on a terminal, ended with a blank line."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr
        self.color = color_allowed(self.out)
        self.started = False
        self.closed = False
        self._last = ""

    def feed(self, text: str) -> None:
        text = printable(text)
        if not self.started:
            text = text.lstrip("\n")
        if not text or self.closed:
            return
        if not self.started:
            self.started = True
            if self.color:
                self.out.write(_DIM)
        self.out.write(text)
        self._last = text
        self.out.flush()

    def close(self) -> None:
        if not self.started or self.closed:
            return
        self.closed = True
        end = "" if self._last.endswith("\n") else "\n"
        self.out.write(f"{_RESET if self.color else ''}{end}\n")
        self.out.flush()


def folded(reasoning: str, width: int = 72) -> str:
    """The thinking as one line: its first words and its size (chat shows this after a reply)."""
    flat = " ".join(printable(reasoning).split())
    words = len(flat.split())
    head = flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
    return f"thought: {head} ({words:,} word{'s' if words != 1 else ''}; /reasoning shows it all)"


def usage_text(u: Usage | None) -> str:
    """ "12 in / 340 out (300 reasoning)"; "~" and "estimated" when the server did not count the thinking."""
    if u is None:
        return "usage not reported"
    text = f"{u.prompt_tokens:,} in / {u.completion_tokens:,} out"
    if u.reasoning_tokens:
        tilde = "~" if u.reasoning_estimated else ""
        text += f" ({tilde}{u.reasoning_tokens:,} reasoning{', estimated' if u.reasoning_estimated else ''})"
    return text
