"""Before a request is sent: its prompt tokens, its cost range, and whether it fits.

The cheap path proves a request is within the context window and the budget from
its UTF-8 size alone (every token covers at least one byte), so most calls never
load an encoding. Only when that bound does not settle it, or when the user wants
to see the estimate, is the exact tiktoken count taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import tokens
from .errors import BudgetError, ContextLengthError
from .models import Preflight, Profile, usd


def check(
    profile: Profile,
    messages: list[dict[str, Any]],
    *,
    exact: bool = False,
    max_cost: float | None = None,
    warn: Callable[[str], None] | None = None,
    extra_prompt_tokens: int = 0,
) -> Preflight:
    """Count and check one request; raise ContextLengthError (8) or BudgetError (7) before sending."""
    info = tokens.model_info(profile.model, profile.base_url, profile.price, profile.context_window)
    window = info.context_window
    n = profile.n
    bound = tokens.upper_bound_tokens(messages) + extra_prompt_tokens
    if not exact and _fits(profile, info, bound, window, max_cost):
        return _result(profile, info, bound, False, None, window)
    counted, is_exact, encoding = count(profile, messages, warn)
    counted += extra_prompt_tokens
    pre = _result(profile, info, counted, is_exact, encoding, window)
    label = "" if is_exact else "about "
    if window is not None:
        out = profile.max_tokens or 0
        if counted + out > window:
            need = f"{label}{counted:,} prompt tokens" + (f" + {out:,} max_tokens" if out else "")
            raise ContextLengthError(
                f"request too long for {profile.model}: {need} > context window {window:,}",
                hint="shorten the input" + (" or lower max_tokens" if out else ""),
            )
    if max_cost is not None:
        if info.price is None:
            raise BudgetError(
                f"--max-cost: price unknown for {profile.model}, so the cost cannot be bounded",
                hint="set [price] in the profile",
            )
        if pre.cost_max is None:
            raise BudgetError(
                f"--max-cost: the output of {profile.model} is unbounded", hint="set max_tokens to bound it"
            )
        if pre.cost_max > max_cost:
            from .client import rule_for

            # A reasoning model's thinking is billed as output and counts against max_tokens:
            # the allowance already covers it, and the message says so.
            thinking = " (thinking included)" if rule_for(profile.model).reasoning else ""
            raise BudgetError(
                f"this call could cost up to {usd(pre.cost_max)} ({label}{counted:,} prompt tokens, "
                f"up to {pre.max_output or 0:,} output tokens{thinking} x{n}) > --max-cost {usd(max_cost)}"
            )
    return pre


def _allowance(profile: Profile, prompt: int, window: int | None) -> int | None:
    if profile.max_tokens is not None:
        return profile.max_tokens
    if window is not None:
        return max(window - prompt, 0)
    return None


def _fits(profile: Profile, info: tokens.ModelInfo, bound: int, window: int | None, max_cost: float | None) -> bool:
    if window is not None and bound + (profile.max_tokens or 0) > window:
        return False
    if max_cost is not None:
        _, hi = tokens.cost_range(info.price, bound, _allowance(profile, bound, window), profile.n)
        if hi is None or hi > max_cost:
            return False
    return True


def _result(
    profile: Profile, info: tokens.ModelInfo, prompt: int, exact: bool, encoding: str | None, window: int | None
) -> Preflight:
    allowance = _allowance(profile, prompt, window)
    lo, hi = tokens.cost_range(info.price, prompt, allowance, profile.n)
    return Preflight(profile.model, prompt, exact, encoding, lo, hi, window, allowance, profile.n)


def count(
    profile: Profile, messages: list[dict[str, Any]], warn: Callable[[str], None] | None = None
) -> tuple[int, bool, str | None]:
    """(tokens, exact?, encoding); falls back to an approximation when no encoding can be loaded."""
    encoding, exact = tokens.encoding_name(profile.model, profile.encoding)
    try:
        return tokens.count_messages(messages, profile.model, profile.encoding), exact, encoding
    except tokens.EncodingUnavailable as e:
        if warn is not None:
            warn(f"token counts are approximate: {e.message}")
        return tokens.approx_tokens(messages), False, None
