"""Markdown for a terminal that keeps a reply's single line breaks.

CommonMark joins the lines of a paragraph (a "soft" break is a space), so a poem, an
address or a pasted list without bullets came out as one run-on paragraph. Chat UIs
show such breaks as breaks, and so does gptcli on a terminal: every soft break becomes
a hard one before rich renders. Plain text (``--raw``, pipes) is untouched.
"""

from __future__ import annotations

from typing import Any


def markdown(text: str, code_theme: str = "monokai") -> Any:
    """A rich ``Markdown`` of ``text`` whose single newlines stay line breaks."""
    from rich.markdown import Markdown

    md = Markdown(text, code_theme=code_theme)
    keep_line_breaks(md.parsed)
    return md


def keep_line_breaks(tokens: list[Any]) -> None:
    for token in tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"
