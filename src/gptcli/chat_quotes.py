"""Chat's ``\"\"\"`` blocks: a message opened and closed with three double quotes (the loop and /commands)."""

from __future__ import annotations

QUOTES = '"""'


def closed(line: str) -> bool:
    """Whether ``line`` opens and closes a block by itself."""
    s = line.strip()
    return len(s) >= 6 and s.startswith(QUOTES) and s.endswith(QUOTES)


def unquote(text: str) -> str:
    """A ``\"\"\"`` block's content (without the quotes and the newlines next to them)."""
    s = text.strip()
    if not s.startswith(QUOTES):
        return text
    inner = s[3:-3] if closed(s) else s[3:]
    return inner.strip("\n")
