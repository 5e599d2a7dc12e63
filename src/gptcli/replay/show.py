"""Show: which saved conversation ``replay ID`` / ``--last`` means, and its ``--json`` value.

Loading goes through the same ``store.load`` that ``ask -c`` and ``chat --resume`` use.
The text, Markdown and OpenAI formats are renderings: ``render.transcript``.
"""

from __future__ import annotations

from typing import Any

from .. import store
from ..transcript import summary
from .listing import newest


def load(ref: str | None, *, last: bool = False) -> store.Conversation:
    """A conversation by id prefix, path or ``--last``: ``store.load``, as ``ask -c`` uses it."""
    if last or ref is None:
        return store.load(newest())
    return store.load(ref)


def to_json(conv: store.Conversation) -> dict[str, Any]:
    """``replay ID --json``: the summary, the metadata, every message record and the load warnings."""
    return {
        "id": conv.id,
        "path": str(conv.path) if conv.path else None,
        "summary": summary(conv),
        "meta": conv.meta,
        "messages": conv.records,
        "warnings": conv.warnings,
    }
