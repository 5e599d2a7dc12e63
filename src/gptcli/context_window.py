"""The context window of a conversation: how much of it the history takes (``Context``,
chat's /tokens and status line), and fitting a request into it (``fit``: the oldest
exchanges left out, never a system message) with the note that says so (``trim_text``).

``conversation.Session`` calls these with its profile and its ``budget.Counter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import budget, prices
from .models import Profile


@dataclass(frozen=True)
class Context:
    """How much of the context window the history takes (chat's /tokens and status line)."""

    tokens: int
    exact: bool
    window: int | None
    exchanges: int


def _counts(counter: budget.Counter, messages: list[dict[str, Any]]) -> tuple[int, list[int], bool]:
    """(fixed overhead, tokens of each message, exact?): the chat format's count is additive."""
    each = counter.each(messages)
    return counter.base(), each, counter.exact


def context(profile: Profile, counter: budget.Counter, messages: list[dict[str, Any]]) -> Context:
    """The tokens the history takes (what the next request carries before its question)."""
    info = prices.info_for(profile)
    base, each, exact = _counts(counter, messages)
    exchanges = sum(1 for m in messages if m["role"] == "user")
    return Context(base + sum(each), exact, info.context_window, exchanges)


def fit(
    profile: Profile, counter: budget.Counter, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int, int | None]:
    """``messages`` within the context window: the oldest exchanges left out; never a system message.

    Returns the request, how many messages were left out and the window. When even the
    system prompt and the last question do not fit, nothing more is done: preflight says so.
    """
    info = prices.info_for(profile)
    window = info.context_window
    reserve = profile.max_tokens or 0
    if window is None or budget.bound(messages).tokens + reserve <= window:
        return messages, 0, window
    base, each, _ = _counts(counter, messages)
    total = base + sum(each)
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=0)
    keep = [True] * len(messages)
    i = 0
    while total + reserve > window:
        while i < last_user and messages[i]["role"] == "system":
            i += 1
        if i >= last_user:
            break
        # One exchange: this message up to the next user message.
        j = i + 1
        while j < last_user and messages[j]["role"] != "user":
            j += 1
        for k in range(i, j):
            if messages[k]["role"] != "system":
                keep[k] = False
                total -= each[k]
        i = j
    omitted = keep.count(False)
    return [m for m, k in zip(messages, keep, strict=True) if k], omitted, window


def trim_text(omitted: int, model: str, window: int) -> str:
    """The notice (and log note) for a request that left ``omitted`` old messages out."""
    return (
        f"context window: the {omitted} oldest message{'s' if omitted != 1 else ''} left out of this request "
        f"to fit {model}'s {window:,} tokens (the system prompt is kept)"
    )
