"""Plain output: terminal checks, JSON, error lines, the stderr status line, plain replies.

stdout carries only the answer (or the JSON); everything about the answer (estimates,
usage, cost, notices) goes to stderr through ``Status``. No rich here.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import IO, Any

from ..errors import GptcliError
from ..models import redact_url, usd
from .safe import clean


def isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def color_allowed(stream: IO[str]) -> bool:
    return isatty(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent)


def print_json(obj: Any, *, indent: int | None = 2) -> None:
    text = dumps_json(obj, indent=indent)  # json escapes C0 but not C1 (ensure_ascii=False)
    sys.stdout.write((clean(text) if isatty(sys.stdout) else text) + "\n")
    sys.stdout.flush()


_REPEATED_STATUS = re.compile(r"\bHTTP (\d{3}): Error code: \1(?: - |\b)")


def error_line(err: GptcliError | str) -> str:
    """The one stderr line; a server's error text is untrusted (render.safe), a URL's password
    redacted, and the SDK's "Error code: 400" not repeated after "HTTP 400"."""
    text = _REPEATED_STATUS.sub(lambda m: f"HTTP {m.group(1)}: ", redact_url(str(err)))
    text = text.replace(": ()", "").rstrip(": ") if text.endswith(": ") else text.replace(":  (", " (")
    return f"gptcli: error: {clean(text)}"


def detail_text(err: GptcliError) -> str | None:
    """The server's whole answer behind an error (``-v``), control characters removed."""
    from ..printable import clean as printable

    return printable(err.detail, keep_newlines=True).strip() or None if err.detail else None


def print_error(err: GptcliError | str) -> None:
    print(error_line(err), file=sys.stderr, flush=True)


class Status:
    """Status lines on stderr: shown on a terminal, or with -v; never on stdout."""

    def __init__(self, verbose: bool = False) -> None:
        self.enabled = verbose or isatty(sys.stderr)
        self.verbose = verbose  # what only -v shows (a server's whole error answer)
        self.color = color_allowed(sys.stderr)

    def __call__(self, text: str, *, warning: bool = False) -> None:
        if warning:
            self.warn(text)
        elif self.enabled:
            self._write(text, "2")

    def warn(self, text: str) -> None:
        """Warnings always show, terminal or not."""
        self._write(f"warning: {text}", "33")

    def _write(self, text: str, sgr: str) -> None:
        text = clean(redact_url(text))  # may quote a model name, a server's words or its URL
        line = f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text
        print(line, file=sys.stderr, flush=True)


def cost_range(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return usd(lo if hi is None else hi) if (lo is not None or hi is not None) else "price unknown"
    return usd(lo) if lo == hi else f"{usd(lo)}-{usd(hi)}"


class PlainStream:
    """Plain text verbatim: no ANSI, no wrapping, one trailing newline.

    On a terminal it streams. Into a pipe or a file the reply is written with one
    write() when it is complete, so that parallel runs sharing a stdout
    (``xargs -P 8 gptcli ask ... > answers.txt``) never interleave their answers.
    """

    def __init__(self, out: IO[str] | None = None, *, live: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.live = isatty(self.out) if live is None else live  # live=True: streamed into a pipe too
        self.parts: list[str] = []
        self.discarded = False

    def feed(self, text: str) -> None:
        if self.live:
            self.out.write(clean(text))  # a terminal: a reply's escape sequences shown, not obeyed
            self.out.flush()
        else:
            self.parts.append(text)

    def discard(self) -> None:
        """Forget what was not written yet (on a terminal, what was shown stays); close writes nothing."""
        self.parts = []
        self.discarded = True

    def close(self) -> None:
        if self.live:
            self.out.write("\n")
            self.out.flush()
            return
        if self.discarded:
            return
        data = ("".join(self.parts) + "\n").encode("utf-8", "surrogateescape")
        self.parts = []
        self.out.flush()
        try:
            fd = self.out.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (tests, StringIO)
            self.out.write(data.decode("utf-8", "surrogateescape"))
            self.out.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
