"""The price of a whole re-run, before anything is sent, and the ``--max-cost`` check on it.

See ``transcript.Estimate`` for what the figures mean. The cheap UTF-8 bound is tried
first; tiktoken is loaded only when that bound does not settle the question.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ContextLengthError
from ..transcript import Estimate, Plan, to_int

if TYPE_CHECKING:
    from ..models import Profile


def _counter(
    profile: Profile, exact: bool, warn: Callable[[str], None] | None
) -> tuple[Callable[[list[dict[str, Any]]], int], bool, str | None]:
    """A prompt counter: the UTF-8 upper bound (no tiktoken), or ``budget.Counter``'s count."""
    from .. import budget

    if not exact:
        return (lambda ms: budget.bound(ms).tokens), False, None
    counter = budget.Counter.for_profile(profile, warn)
    counter.tokens([{"role": "user", "content": "x"}])  # loads the encoding (or warns once)
    return counter.tokens, counter.exact, None if counter.approximate else counter.encoding


def estimate(plan: Plan, *, exact: bool = False, warn: Callable[[str], None] | None = None) -> Estimate:
    """Price the whole re-run (see ``Estimate``); counting is additive per message."""
    from .. import prices

    prof = plan.profile
    info = prices.info_for(prof)
    window = info.context_window
    count, is_exact, encoding = _counter(prof, exact, warn)
    base = count([])
    head = count([{"role": "system", "content": prof.system}]) - base if prof.system else 0
    empty_reply = count([{"role": "assistant", "content": ""}]) - base
    n = max(1, prof.n)
    # The flag's or profile's limit, else the model's own output limit (models.dev).
    allowance = prof.max_tokens if prof.max_tokens is not None else info.max_output
    p_min = base + head  # prompt of the current turn with every earlier answer empty
    p_exp = base + head  # with the original answers
    total_min = 0
    total_max: int | None = 0
    cost_min: float | None = 0.0
    cost_max: float | None = 0.0
    cost_exp: float | None = 0.0
    for i, t in enumerate(plan.turns):
        user = count([{"role": "user", "content": _content(t)}]) - base
        if i:
            p_min += empty_reply
            p_exp += empty_reply
        p_min += user
        p_exp += user
        total_min += p_min
        if window is not None and p_min + (allowance or 0) > window:
            raise ContextLengthError(
                f"turn {i + 1} of the re-run is too long for {prof.model}: {'' if is_exact else 'about '}"
                f"{p_min:,} prompt tokens"
                + (f" + {allowance:,} max_tokens" if allowance else "")
                + f" > context window {window:,}",
                hint="re-run fewer turns or use a model with a larger window",
            )
        p_max, turn_max = _upper(info, p_min, i, allowance, window, n)
        total_max = None if total_max is None or p_max is None else total_max + p_max
        cost_min = _add(cost_min, prices.cost(info.price_for(p_min), p_min, 0))
        cost_max = _add(cost_max, turn_max)
        out_exp = (
            to_int(t.usage.get("completion_tokens"))
            if t.usage
            else (count([{"role": "assistant", "content": t.text or ""}]) - base - empty_reply)
        )
        cost_exp = _add(cost_exp, prices.cost(info.price_for(p_exp), p_exp, out_exp * n))
        p_exp += count([{"role": "assistant", "content": t.text or ""}]) - base - empty_reply
    return Estimate(
        prof.model,
        len(plan.turns),
        total_min,
        total_max,
        is_exact,
        encoding,
        cost_min,
        cost_max,
        cost_exp,
        window,
        allowance,
    )


def _upper(
    info: Any, p_min: int, i: int, allowance: int | None, window: int | None, n: int
) -> tuple[int | None, float | None]:
    """Turn ``i``'s largest prompt and cost: every earlier answer as long as allowed."""
    from ..prices import cost

    if allowance is not None:
        p_max = p_min + i * allowance  # the history keeps choice 0 only
        if window is not None:
            p_max = min(p_max, max(window - allowance, p_min))
        return p_max, cost(info.price_for(p_max), p_max, allowance * n)
    if window is None:
        return None, None
    # prompt + output <= window: the cost is highest at one of the two ends.
    price = info.price_for(window)
    ends = [cost(price, p_min, (window - p_min) * n), cost(price, window, 0)]
    return window, max(e for e in ends if e is not None) if None not in ends else None


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def check_budget(
    plan: Plan, max_cost: float | None, *, exact: bool = False, warn: Callable[[str], None] | None = None
) -> Estimate:
    """The whole re-run's estimate; BudgetError (7) if it could cost more than ``max_cost``.

    The cheap UTF-8 bound is tried first; only when it does not prove the run within
    budget (or an exact figure is wanted) are the tokens counted with tiktoken.
    """
    est = estimate(plan, exact=exact, warn=warn)
    if max_cost is None or _within(est, max_cost) or exact:
        return _budget(est, max_cost, plan)
    return _budget(estimate(plan, exact=True, warn=warn), max_cost, plan)


def _within(est: Estimate, max_cost: float) -> bool:
    return est.cost_max is not None and est.cost_max <= max_cost


def _budget(est: Estimate, max_cost: float | None, plan: Plan) -> Estimate:
    if max_cost is None or _within(est, max_cost):
        return est
    from ..budget import check_cost

    label = "" if est.exact else "about "
    check_cost(
        max_cost,
        est.cost_max,
        subject=f"this re-run ({est.turns} turn{'s' if est.turns != 1 else ''})",
        detail=f"{label}{est.prompt_tokens_max or est.prompt_tokens_min:,} prompt tokens in all, up to "
        f"{est.max_output or 0:,} output tokens per reply",
        model=plan.profile.model,
        price_unknown=plan.profile.model if est.cost_min is None else None,
        unbounded_hint="set --max-tokens to bound each reply",
        hint="lower --max-tokens or raise --max-cost",
    )
    return est


def fit_budget(
    plan: Plan, max_cost: float | None, *, exact: bool = False, warn: Callable[[str], None] | None = None
) -> tuple[Plan, Estimate]:
    """``check_budget``, but a re-run whose replies could pass ``max_cost`` gets an output
    limit per reply instead (without ``--max-tokens``): the largest that keeps the whole
    re-run within it, found by bisection over the estimate. Refused (BudgetError) only
    when even ``budget.MIN_OUTPUT`` tokens per reply would not fit."""
    from dataclasses import replace

    from ..budget import MIN_OUTPUT
    from ..errors import BudgetError

    try:
        return plan, check_budget(plan, max_cost, exact=exact, warn=warn)
    except BudgetError:
        if max_cost is None or plan.profile.max_tokens is not None:
            raise
        first = estimate(plan, exact=True, warn=warn)
        if first.cost_min is None:
            raise

    def at(cap: int) -> tuple[Plan, Estimate]:
        capped = replace(plan, profile=replace(plan.profile, max_tokens=cap))
        return capped, estimate(capped, exact=True, warn=warn)

    from ..prices import info_for

    info = info_for(plan.profile)
    lo, hi = MIN_OUTPUT, max(first.max_output or info.context_window or 1_000_000, MIN_OUTPUT)
    best = at(lo)
    if not _within(best[1], max_cost):
        return plan, _budget(best[1], max_cost, best[0])  # raises, with the figures at the floor
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = at(mid)
        if _within(found[1], max_cost):
            lo, best = mid, found
        else:
            hi = mid - 1
    capped, est = best
    note = f"output capped at {lo:,} tokens per reply by --max-cost"
    return replace(capped, notes=(*capped.notes, note)), est


def _content(turn: Any) -> Any:
    """A turn's question as it will be sent: with its attachments' parts (the stash's bytes)."""
    if not turn.attachments:
        return turn.user
    from ..attachments import stash

    return stash.join(turn.user, list(turn.attachments))[0]
