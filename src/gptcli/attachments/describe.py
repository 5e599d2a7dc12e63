"""Messages as ``-v`` and ``--dry-run`` show them: every attachment as ``{type, name, bytes, sha256, tokens}``.

The output of gptcli never carries an attachment's base64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .media import part_tokens
from .parts import describe


def without_bytes(messages: list[dict[str, Any]], model: str | None = None) -> list[dict[str, Any]]:
    """``messages`` with every non-text part replaced by its description (for printing)."""
    out = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, list):
            shown = []
            for p in c:
                if isinstance(p, Mapping) and p.get("type") not in ("text", None):
                    n = part_tokens(p, model).tokens if model else None
                    shown.append(describe(p, n))
                else:
                    shown.append(p)
            m = {**m, "content": shown}
        out.append(m)
    return out


def describe_attachment(att: Any, p: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An attachment's description with the name the user gave and its tokens for ``model``."""
    counted = part_tokens(p, model)
    out = describe(p, counted.tokens, att.name)
    if counted.text:
        out["text_characters"] = len(counted.text)
    if counted.note:
        out["note"] = counted.note
    return out
