"""Text from outside (a server's error, a model name) made safe to print on one terminal line.

Used by the error classification (backends/classify.py) and by render's error line: a
server's text may carry escape sequences or control characters that would recolour,
retitle or rewrite the user's terminal.
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
