"""Refusing, before anything is sent, a model that takes no input of an attachment's kind.

What a model takes comes from the profile's ``modalities`` when set, else from models.dev
(``prices.capabilities``). A model the data does not know is let through: the data is
advisory, and a local server's model is often unknown to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from ..models import Profile

# Models named in the refusal, when models.dev says they take the kind (most used first).
_SUGGEST = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "gpt-5", "gpt-4o-audio-preview")
_WORDS = {"image": "images", "pdf": "PDFs", "audio": "audio"}


def accepted(profile: Profile, model: str | None = None) -> tuple[str, ...] | None:
    """The input kinds ``model`` (default: the profile's) takes; None if unknown."""
    model = model or profile.model
    if profile.modalities is not None and model == profile.model:
        return profile.modalities
    from ..prices import capabilities

    caps = capabilities(model)
    return None if caps is None else caps.input_modalities


def check(profile: Profile, kinds: Iterable[str], model: str | None = None) -> None:
    """ConfigError (exit 3) when the model takes none of some kind in ``kinds`` (text is always fine)."""
    model = model or profile.model
    takes = accepted(profile, model)
    if takes is None:
        return
    for kind in sorted(set(kinds) - {"text"}):
        if kind not in takes:
            others = [m for m in _SUGGEST if kind in (accepted(profile, m) or ())]
            hint = f"models that do: {', '.join(others)}" if others else "use a model that does"
            hint += "; or set modalities in the profile if the data is wrong"
            from ..printable import clean

            raise ConfigError(f"{clean(model)} does not take {_WORDS.get(kind, kind)}; nothing was sent", hint=hint)


_PART_KINDS = {"image_url": "image", "file": "pdf", "input_audio": "audio"}


def check_messages(profile: Profile, messages: list[dict[str, Any]]) -> None:
    """``check`` for every non-text part of a request (the history's too: a model switched mid-chat)."""
    kinds = {
        _PART_KINDS.get(str(p.get("type")), str(p.get("type")))
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") != "text"
    }
    if kinds:
        check(profile, kinds)
