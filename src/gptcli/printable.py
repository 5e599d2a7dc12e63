"""The one place that makes untrusted text safe for a terminal (issue 17 #1).

A model's reply, a server's error text and a model name are untrusted: written raw to
a terminal, ``ESC ] 52 ;`` rewrites the clipboard, ``ESC ] 0 ;`` the window title,
``ESC [ 2 J`` clears the screen, and OSC 8, DCS or a C1 ``\\x9b`` byte do their own
tricks. Each way of disarming it has one function here, each for its own kind of output:

* ``visible``: every C0 and C1 control character (and DEL) made visible, keeping ``\\n``
  and ``\\t``: ESC becomes ``^[``, BEL ``^G``, a C1 byte ``<9b>``; CR dropped (alone it
  lets text overwrite what a line showed). Replies and status lines (``render.clean``).
* ``clean``: escape sequences and controls removed, on one line unless ``keep_newlines``
  (a server's error text: the error classification and the error line).
* ``strip_controls``: controls removed, newlines and tabs kept (the thinking, stored lines).
* ``escape_controls``: controls shown as ``\\xNN`` (code printed to be copied).

Callers apply them only to what goes to a terminal; output to a pipe or a file stays
byte-exact. gptcli's own ANSI (rich's Markdown, the diff colours) is added after.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` without terminal escape sequences and control characters (tabs become spaces)."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\t", " ")
    if not keep_newlines:
        text = text.replace("\n", " ")
    return _CONTROL.sub("", text)


_C0_C1 = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # control characters other than newline and tab


def strip_controls(text: str) -> str:
    """``text`` without control characters (newlines and tabs kept): a reply's thinking, a stored line."""
    return _C0_C1.sub("", text)


def escape_controls(text: str) -> str:
    """``text`` with every control character but newline and tab shown as ``\\xNN`` (code to copy)."""
    return _C0_C1.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _shown(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c == 0x0D:
        return ""
    if c < 0x20:
        return "^" + chr(c + 64)
    if c == 0x7F:
        return "^?"
    return f"<{c:02x}>"


def visible(text: str) -> str:
    """``text`` with control characters made visible (``\\n`` and ``\\t`` kept, CR dropped)."""
    if not _C0_C1.search(text):
        return text
    return _C0_C1.sub(_shown, text)
