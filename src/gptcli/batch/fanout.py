"""``batch --models`` and ``--sample``: every item once per model, or an even sample of the items.

``Expanded`` wraps the input's ``Source``: each item becomes one copy per model (its
``target``, and that model in its overrides, over any the item names itself), in input
order and then the ``--models`` order. Each copy is its own record (``"target"``) and
its own entry in the resume state, so ``--resume`` runs exactly the missing
item x model pairs. With ``keep`` set (``--sample``) only the items at those positions
(0-based, among the usable items) are read; ``pick`` chooses them and ``project``
scales what the sample cost and took to the whole file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from .input import Item
from .output import Summary
from .plan import Plan


class Expanded:
    """A Source whose items come once per model (and, with ``keep``, only the sampled ones)."""

    def __init__(self, source: Any, models: tuple[str, ...]) -> None:
        self.inner = source
        self.models = models
        self.keep: frozenset[int] | None = None
        self.name = source.name
        self.format = source.format

    def close(self) -> None:
        self.inner.close()

    def entries(self) -> Iterator[Any]:
        position = -1
        for entry in self.inner.entries():
            if not isinstance(entry, Item):
                if self.keep is None:  # bad lines: reported by the whole file's plan, not again for the sample
                    yield entry
                continue
            position += 1
            if self.keep is not None and position not in self.keep:
                continue
            if not self.models:
                yield entry
                continue
            for model in self.models:
                yield replace(entry, target=model, overrides={**(entry.overrides or {}), "model": model})


def pick(count: int, n: int, seed: int | None) -> frozenset[int]:
    """``n`` of ``count`` positions spread evenly: one in each of ``n`` equal stretches, at the
    same place in each, which ``seed`` chooses (the same seed, the same items)."""
    if n >= count:
        return frozenset(range(count))
    step = count / n
    offset = random.Random(0 if seed is None else seed).random()
    return frozenset(min(count - 1, int((i + offset) * step)) for i in range(n))


@dataclass(frozen=True)
class Projection:
    """What the whole file would cost and take on one model, from its sample."""

    model: str
    sampled: int  # items answered in the sample
    items: int  # usable items in the whole file
    sample_cost: float | None
    cost: float | None  # projected for the whole file
    seconds: float | None  # projected wall time at the run's concurrency (rate limits aside)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "sampled": self.sampled,
            "items": self.items,
            "sample_cost": self.sample_cost,
            "cost": self.cost,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def project(whole: Plan, sample: Plan, summary: Summary, concurrency: int) -> list[Projection]:
    """Each model's sample scaled to the whole file.

    Cost scales by prompt tokens (the whole file's against the sample's, counted the same
    way), which follows items of uneven length better than a count of items; time by
    items, at the mean latency of the sample and the run's concurrency.
    """
    whole_tokens = {m.model: m for m in whole.models}
    sample_tokens = {m.model: m for m in sample.models}
    out = []
    for m in summary.models:
        items = whole_tokens[m.model].items if m.model in whole_tokens else 0
        w, s = whole_tokens.get(m.model), sample_tokens.get(m.model)
        ratio = w.prompt_tokens / s.prompt_tokens if w and s and s.prompt_tokens else None
        if ratio is None and m.done:
            ratio = items / m.done
        cost = None if m.cost is None or ratio is None else round(m.cost * ratio, 10)
        seconds = m.latency / m.done * items / max(concurrency, 1) if m.done else None
        out.append(Projection(m.model, m.done, items, m.cost, cost, seconds))
    return out
