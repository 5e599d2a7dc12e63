"""One request's money, around the send: the preflight inside the shared budget, the
request's output limit when ``--max-cost`` caps it, settling the ledger after the reply,
and the cost of a reply whose server sent no usage.

* ``preflight``: ``budget.check``; with a shared budget (the profile's ``budget``, from
  ``--budget``, ``GPTCLI_BUDGET`` or the profile file) the check runs inside the ledger's
  lock with ``--max-cost`` lowered to what is left of the period, and its worst case is
  reserved (``ledger``).
* ``settling``: a context that settles that reservation with the actual cost (the
  reserved worst case when the cost is unknown, nothing when no reply came).
* ``sending``: the profile a request is built from (``max_tokens`` = the cap).
* ``estimate_cost``: counted prompt and reply tokens at the model's price.
* ``reply_cost``: a reply's cost from its usage, else estimated (``estimate_cost``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from . import budget, prices
from .models import Completion, Preflight, Profile

Settle = Callable[[float | None], None]


@dataclass(frozen=True)
class Reservation:
    ident: str
    worst: float


def preflight(
    profile: Profile,
    messages: Sequence[Mapping[str, Any]],
    *,
    exact: bool = False,
    max_cost: float | None = None,
    counter: budget.Counter | None = None,
    info: prices.ModelInfo | None = None,
    extra_prompt_tokens: int = 0,
) -> tuple[Preflight, Reservation | None]:
    """``budget.check`` of one request, inside the shared budget when there is one.

    ``extra_prompt_tokens``: what the request carries besides its messages (a tool loop's
    tool definitions, counted by the caller).
    """
    if not profile.budget:
        pre = budget.check(
            profile,
            messages,
            exact=exact,
            max_cost=max_cost,
            counter=counter,
            info=info,
            extra_prompt_tokens=extra_prompt_tokens,
        )
        return pre, None
    from .ledger import Ledger, parse_budget

    cap = parse_budget(profile.budget)

    def fit(left: float) -> tuple[Preflight, float]:
        limit = left if max_cost is None else min(max_cost, left)
        pre = budget.check(
            profile,
            messages,
            exact=exact,
            max_cost=limit,
            counter=counter,
            info=info,
            extra_prompt_tokens=extra_prompt_tokens,
        )
        return pre, pre.cost_max or 0.0

    pre, ident = Ledger().reserve(cap, fit)
    return pre, Reservation(ident, pre.cost_max or 0.0)


@contextmanager
def settling(reservation: Reservation | None) -> Iterator[Settle]:
    """A ``settle(cost)`` for the block; a reservation not settled in it is settled at 0
    (no reply: nothing billed)."""
    done: list[float] = []

    def settle(cost: float | None) -> None:
        if reservation is not None and not done:
            done.append(reservation.worst if cost is None else cost)
            from .ledger import Ledger

            Ledger().settle(reservation.ident, done[0])

    try:
        yield settle
    finally:
        settle(0.0)


def sending(profile: Profile, pre: Preflight) -> Profile:
    """The profile to build the request from: with the ``--max-cost`` cap as its output limit."""
    if pre.capped and pre.max_output is not None:
        return replace(profile, max_tokens=pre.max_output)
    return profile


def estimate_cost(
    counter: budget.Counter,
    info: prices.ModelInfo,
    messages: Sequence[Mapping[str, Any]],
    replies: Sequence[str],
) -> float | None:
    """The cost from counted tokens: the prompt once, each choice's reply (its share in the
    chat format, a few tokens over the text alone)."""
    prompt = counter.tokens(messages)
    out = sum(counter.each([{"role": "assistant", "content": t}])[0] for t in replies)
    return prices.cost(info.price_for(prompt), prompt, out)


def reply_cost(
    profile: Profile, counter: budget.Counter, completion: Completion, messages: Sequence[Mapping[str, Any]]
) -> tuple[float | None, bool]:
    """A reply's cost and whether it is estimated (no usage from the server: priced from counted tokens)."""
    info = prices.info_for(profile)
    usage = completion.usage
    if usage is not None:
        cost = prices.cost(
            info.price_for(usage.prompt_tokens), usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
        )
        return cost, False
    if info.price is not None:
        cost = estimate_cost(counter, info, messages, completion.texts)
        return cost, cost is not None
    return None, False
