"""Before a request is sent: its prompt tokens, its cost range, and whether it fits.

The one place that decides two things every use case needs:

* How many prompt tokens: ``Counter`` is the one "count exactly, else approximate"
  path. It loads the model's encoding once, falls back to the bytes-per-token
  estimate once (with one warning) when the encoding cannot be loaded, and keeps the
  per-message counts (the chat formula is additive), so a turn, a re-run or a batch
  counts each message once. ``bound`` is the cheap UTF-8 upper bound (no tiktoken).
* Whether it may be sent: ``check`` (one request: the context window, then
  ``--max-cost``) raising ContextLengthError (8) or BudgetError (7), built on
  ``check_window`` and ``check_cost``, which batch and replay call for their totals.

``check`` proves most requests fit from their UTF-8 size alone (every token covers at
least one byte), so most calls never load an encoding; only when that bound does not
settle it, or when the user wants to see the figure, are the tokens counted. A caller
that has counted already passes its ``PromptCount`` in and nothing is counted again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gptcli import prices
from gptcli.errors import BudgetError, ContextLengthError
from gptcli.models import Preflight, Profile, usd
from gptcli.tokens import counting, encodings

Messages = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class PromptCount:
    """Prompt tokens of one request and how much to trust them."""

    tokens: int
    exact: bool  # counted with the model's own tokenizer (formula caveats aside)
    encoding: str | None  # None: not counted with an encoding (a bound or an estimate)


def bound(messages: Messages, *, model: str | None = None) -> PromptCount:
    """The UTF-8 upper bound (>= the exact count for any encoding), without tiktoken."""
    return PromptCount(counting.upper_bound_tokens(messages, model=model), False, None)


class Counter:
    """Prompt tokens for one model: exact when its encoding loads, else an estimate.

    ``count`` caches each message's share (the chat formula is additive), so counting
    a growing history again costs only its new messages. The first failure to load the
    encoding is reported through ``warn`` once; from then on every count is an
    estimate (one failed download is enough).
    """

    def __init__(self, model: str, encoding: str | None = None, warn: Callable[[str], None] | None = None) -> None:
        self.model = model
        self._override = encoding
        self._name: tuple[str, bool] | None = None  # resolved on first use: it may import tiktoken
        self._warn = warn
        self.approximate = False
        self._base: int | None = None
        self._cache: dict[tuple[Any, ...], int] = {}

    @classmethod
    def for_profile(cls, profile: Profile, warn: Callable[[str], None] | None = None) -> Counter:
        return cls(profile.model, profile.encoding, warn)

    @property
    def encoding(self) -> str:
        if self._name is None:
            self._name = encodings.encoding_name(self.model, self._override)
        return self._name[0]

    @property
    def exact(self) -> bool:
        if self._name is None:
            self._name = encodings.encoding_name(self.model, self._override)
        return self._name[1] and not self.approximate

    def warn_to(self, warn: Callable[[str], None] | None) -> None:
        """Where the one "counts are approximate" warning goes (a session's next turn)."""
        self._warn = warn

    def _raw(self, messages: Messages) -> int:
        if not self.approximate:
            try:
                return counting.count_messages(messages, self.model, self._override)
            except encodings.EncodingUnavailable as e:
                self.approximate = True
                self._base = None
                self._cache.clear()
                if self._warn is not None:
                    self._warn(f"token counts are approximate: {e.message}")
        return counting.approx_tokens(messages)

    def base(self) -> int:
        """The fixed overhead of any request (reply priming)."""
        if self._base is None:
            self._base = self._raw([])  # no strings: never loads the encoding
        return self._base

    def each(self, messages: Messages) -> list[int]:
        """Each message's share of the count (cached by every field of the message)."""
        while True:
            was_approximate = self.approximate
            base = self.base()
            shares = []
            for m in messages:
                key = tuple(sorted((k, str(v)) for k, v in m.items()))
                share = self._cache.get(key)
                if share is None:
                    share = self._raw([m]) - base
                    if self.approximate != was_approximate:
                        break  # the encoding failed just now: start again with estimates
                    if len(self._cache) >= _CACHE_MAX:  # a batch's items are each new: keep memory flat
                        del self._cache[next(iter(self._cache))]
                    self._cache[key] = share
                shares.append(share)
            else:
                return shares

    def tokens(self, messages: Messages) -> int:
        each = self.each(messages)
        return self.base() + sum(each)

    def count(self, messages: Messages) -> PromptCount:
        """The count of one request, with its exactness and encoding."""
        n = self.tokens(messages)
        exact = self.exact and not _approximate_parts(messages, self.model)
        return PromptCount(n, exact, None if self.approximate else self.encoding)


# Messages whose share is remembered: a chat's whole history; the oldest entries go first.
_CACHE_MAX = 4096


def _approximate_parts(messages: Messages, model: str) -> bool:
    """An attachment counted by estimate: an unfetched URL, a PDF, audio (README "Attachments")."""
    parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"]]
    if not any(isinstance(p, Mapping) and p.get("type") not in ("text", None) for p in parts):
        return False
    from .attachments.media import part_tokens

    return any(
        not part_tokens(p, model).exact for p in parts if isinstance(p, Mapping) and p.get("type") not in ("text", None)
    )


def count(profile: Profile, messages: Messages, warn: Callable[[str], None] | None = None) -> PromptCount:
    """One request counted exactly, else approximately (``Counter`` for many)."""
    return Counter.for_profile(profile, warn).count(messages)


# ---------------------------------------------------------------------------------------
# the checks


def check_window(model: str, prompt: PromptCount, max_output: int | None, window: int | None) -> None:
    """ContextLengthError (8) when the prompt plus the output limit exceed the window."""
    if window is None:
        return
    out = max_output or 0
    if prompt.tokens + out > window:
        label = "" if prompt.exact else "about "
        need = f"{label}{prompt.tokens:,} prompt tokens" + (f" + {out:,} max_tokens" if out else "")
        raise ContextLengthError(
            f"request too long for {model}: {need} > context window {window:,}",
            hint=f"shorten the input to about {max(window - out, 0):,} tokens"
            + (" or lower max_tokens" if out else ""),
        )


def check_cost(
    max_cost: float | None,
    cost_max: float | None,
    *,
    subject: str,
    detail: str,
    model: str,
    price_unknown: str | None = None,
    unbounded_hint: str = "set max_tokens to bound it",
    hint: str | None = None,
) -> None:
    """The one ``--max-cost`` rule; BudgetError (7) unless ``cost_max`` is known and within.

    ``subject`` names what is checked ("this call", "this batch"); ``detail`` says what
    the figure is made of; ``price_unknown`` names a model without a price, if any.
    """
    if max_cost is None:
        return
    if price_unknown is not None:
        raise BudgetError(
            f"--max-cost: price unknown for {price_unknown}, so the cost cannot be bounded",
            hint="set [price] in the profile",
        )
    if cost_max is None:
        raise BudgetError(f"--max-cost: the output of {model} is unbounded", hint=unbounded_hint)
    if cost_max > max_cost:
        raise BudgetError(
            f"{subject} could cost up to {usd(cost_max)} ({detail}) > --max-cost {usd(max_cost)}", hint=hint
        )


MIN_OUTPUT = 64  # the smallest output cap --max-cost may impose: a shorter reply is rarely of use


def check(
    profile: Profile,
    messages: Messages,
    *,
    exact: bool = False,
    max_cost: float | None = None,
    warn: Callable[[str], None] | None = None,
    extra_prompt_tokens: int = 0,
    counted: PromptCount | None = None,
    counter: Counter | None = None,
    info: prices.ModelInfo | None = None,
) -> Preflight:
    """Count and check one request; raise ContextLengthError (8) or BudgetError (7) before sending.

    With ``max_cost`` and no explicit output limit (``profile.max_tokens``), an output
    allowance that could pass the budget is capped instead: the result has ``capped``
    set and ``max_output`` is the limit to send (``client.build_body`` of the profile
    with ``max_tokens`` = that). Only a prompt that alone passes the budget, or a cap
    below ``MIN_OUTPUT``, is refused, saying what would fit.

    ``counted``: the prompt already counted (nothing is counted again). ``counter``: the
    caller's ``Counter`` (its cache and its one warning are reused). ``info``: the
    model's price and window, if already looked up.
    """
    info = info or prices.info_for(profile)
    window = info.context_window
    if counted is None:
        cheap = bound(messages)
        cheap = PromptCount(cheap.tokens + extra_prompt_tokens, False, None)
        if not exact and _fits(profile, info, cheap.tokens, max_cost):
            return _result(profile, info, cheap)
        counted = (counter or Counter.for_profile(profile, warn)).count(messages)
        counted = PromptCount(counted.tokens + extra_prompt_tokens, counted.exact, counted.encoding)
    pre = _result(profile, info, counted)
    if max_cost is not None and pre.cost_min is not None and pre.cost_min > max_cost and profile.max_tokens is None:
        _capped(profile, info, counted, pre, max_cost)  # the prompt alone passes the budget: say what fits
    check_window(profile.model, counted, profile.max_tokens, window)
    over = max_cost is not None and (pre.cost_max is None or pre.cost_max > max_cost)
    if over and max_cost is not None and profile.max_tokens is None and info.price is not None:
        return _capped(profile, info, counted, pre, max_cost)
    label = "" if counted.exact else "about "
    check_cost(
        max_cost,
        pre.cost_max,
        subject="this call",
        detail=f"{label}{counted.tokens:,} prompt tokens, up to {pre.max_output or 0:,} output tokens"
        f"{_thinking(profile)} x{profile.n}",
        model=profile.model,
        price_unknown=profile.model if info.price is None else None,
    )
    return pre


def _thinking(profile: Profile) -> str:
    """A reasoning model's thinking is billed as output and counts against max_tokens: the
    allowance already covers it, and a refusal says so."""
    from gptcli.client import rule_for

    return " (thinking included)" if rule_for(profile.model).reasoning else ""


def _capped(
    profile: Profile, info: prices.ModelInfo, prompt: PromptCount, pre: Preflight, max_cost: float
) -> Preflight:
    """The preflight with the output capped to fit ``max_cost``; BudgetError if even
    ``MIN_OUTPUT`` tokens do not fit."""
    from dataclasses import replace

    price = info.price_for(prompt.tokens)
    n = max(1, profile.n)
    label = "" if prompt.exact else "about "
    base = prices.cost(price, prompt.tokens, 0) or 0.0
    per_out = (prices.cost(price, 0, n) or 0.0) / n  # one output token (of every choice)
    per_in = prices.cost(price, 1, 0) or 0.0
    room = max_cost - base
    cap = int(room / (per_out * n)) if per_out > 0 else (pre.max_output or 0)
    if pre.max_output is not None:
        cap = min(cap, pre.max_output)
    if room < 0 or cap < MIN_OUTPUT:
        fit = int((max_cost - per_out * n * MIN_OUTPUT) / per_in) if per_in > 0 else 0
        need = prices.cost(price, prompt.tokens, MIN_OUTPUT * n) or 0.0
        what = (
            f"the prompt alone ({label}{prompt.tokens:,} tokens) costs {usd(base)}"
            if room < 0
            else f"{label}{prompt.tokens:,} prompt tokens ({usd(base)}) leave room for only {max(cap, 0):,} "
            f"output tokens (at least {MIN_OUTPUT} needed)"
        )
        raise BudgetError(
            f"{what} > --max-cost {usd(max_cost)}: a prompt of about {max(fit, 0):,} tokens would fit",
            hint=f"shorten the input, or raise --max-cost to {usd(need)}",
        )
    note = f"output capped at {cap:,} tokens by --max-cost"
    return replace(
        pre,
        max_output=cap,
        cost_max=prices.cost(price, prompt.tokens, cap * n),
        capped=True,
        notes=(*pre.notes, note),
    )


def allowance(profile: Profile, info: prices.ModelInfo, prompt: int) -> int | None:
    """The output that may come back: the smallest of the flag's or profile's limit, the
    model's output limit and what the window leaves (None: unbounded)."""
    limits = [x for x in (profile.max_tokens, info.max_output) if x is not None]
    if info.context_window is not None:
        limits.append(max(info.context_window - prompt, 0))
    return min(limits) if limits else None


def _fits(profile: Profile, info: prices.ModelInfo, bound_tokens: int, max_cost: float | None) -> bool:
    window = info.context_window
    if window is not None and bound_tokens + (profile.max_tokens or 0) > window:
        return False
    if max_cost is not None:
        most = allowance(profile, info, bound_tokens)
        _, hi = prices.cost_range(info.price_for(bound_tokens), bound_tokens, most, profile.n)
        if hi is None or hi > max_cost:
            return False
    return True


def _result(profile: Profile, info: prices.ModelInfo, prompt: PromptCount) -> Preflight:
    window = info.context_window
    most = allowance(profile, info, prompt.tokens)
    lo, hi = prices.cost_range(info.price_for(prompt.tokens), prompt.tokens, most, profile.n)
    note = info.note()
    notes = (note,) if note else ()
    return Preflight(
        profile.model, prompt.tokens, prompt.exact, prompt.encoding, lo, hi, window, most, profile.n, notes=notes
    )
