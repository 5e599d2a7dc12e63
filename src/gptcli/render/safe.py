"""The one sanitiser for untrusted text on a terminal (issue 17 #1).

A model's reply, a server's error text and a model name are untrusted: written raw to
a terminal, ``ESC ] 52 ;`` rewrites the clipboard, ``ESC ] 0 ;`` the window title,
``ESC [ 2 J`` clears the screen, and OSC 8, DCS or a C1 ``\\x9b`` byte do their own
tricks. ``clean`` makes every C0 and C1 control character (and DEL) visible, keeping
``\\n`` and ``\\t``: ESC becomes ``^[``, BEL ``^G``, a C1 byte ``<9b>``. CR is dropped
(alone it lets text overwrite what a line showed; before LF it changes nothing).

Callers apply it only to what goes to a terminal; output to a pipe or a file stays
byte-exact. gptcli's own ANSI (rich's Markdown, the diff colours) is added after.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c == 0x0D:
        return ""
    if c < 0x20:
        return "^" + chr(c + 64)
    if c == 0x7F:
        return "^?"
    return f"<{c:02x}>"


def clean(text: str) -> str:
    """``text`` with control characters made visible (``\\n`` and ``\\t`` kept, CR dropped)."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_visible, text)


def clean_for(text: str, stream: object) -> str:
    """``clean(text)`` if ``stream`` is a terminal, else ``text`` unchanged."""
    try:
        tty = bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        tty = False
    return clean(text) if tty else text
