"""Shim: the window and ``--max-cost`` check moved to ``gptcli.budget``.

Kept for callers not yet moved (``conversation``); remove when none import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gptcli.budget import check
from gptcli.budget import count as _count
from gptcli.models import Profile

__all__ = ["check", "count"]


def count(
    profile: Profile, messages: list[dict[str, Any]], warn: Callable[[str], None] | None = None
) -> tuple[int, bool, str | None]:
    """(tokens, exact?, encoding): ``budget.count`` as the old tuple."""
    counted = _count(profile, messages, warn)
    return counted.tokens, counted.exact, counted.encoding
