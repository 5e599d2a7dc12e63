"""Untrusted text for the terminal: ``clean`` (``printable.visible``) and ``clean_for`` (only on a terminal).

The sanitisers themselves live in the core (``printable.py``), one function per kind of
output; render uses them through these names.
"""

from __future__ import annotations

from ..printable import visible as clean

__all__ = ["clean", "clean_for"]


def clean_for(text: str, stream: object) -> str:
    """``clean(text)`` if ``stream`` is a terminal, else ``text`` unchanged."""
    try:
        tty = bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        tty = False
    return clean(text) if tty else text
