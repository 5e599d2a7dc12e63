"""A re-run of a saved conversation, as values: the old and new turns, its plan, estimate and result.

Read by the ``replay`` use case and the renderers (``render.diff``, ``render.diff_many``);
like ``transcript`` (the saved conversation these come from), nothing here reads files,
sends requests or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .transcript import messages, round_usd, to_int

if TYPE_CHECKING:
    from .models import Profile, Turn
    from .store import Conversation


@dataclass(frozen=True)
class OldTurn:
    """One user turn of the original and the reply it got (``text`` None: none was saved)."""

    user: str
    text: str | None
    model: str | None = None
    usage: dict[str, Any] | None = None
    cost: float | None = None
    latency: float | None = None
    attachments: tuple[dict[str, Any], ...] = ()  # the question's, as the log refers to them


def old_turns(conv: Conversation) -> list[OldTurn]:
    """The user turns in order, each with the last assistant reply that followed it."""
    turns: list[OldTurn] = []
    for m in messages(conv):
        if m.role == "user":
            turns.append(OldTurn(m.content, None, attachments=m.attachments))
        elif m.role == "assistant" and turns:
            turns[-1] = replace(turns[-1], text=m.content, model=m.model, usage=m.usage, cost=m.cost, latency=m.latency)
    return turns


@dataclass(frozen=True)
class NewTurn:
    """The reply a re-run got to one user turn."""

    text: str
    model: str
    usage: dict[str, Any] | None
    cost: float | None
    latency: float
    finish_reason: str | None
    incomplete: bool

    @classmethod
    def from_turn(cls, turn: Turn) -> NewTurn:
        c = turn.completion
        return cls(
            c.text,
            c.model,
            c.usage.to_dict() if c.usage else None,
            turn.cost,
            round(c.latency, 4),
            c.finish_reason,
            c.incomplete,
        )


@dataclass(frozen=True)
class Plan:
    """A re-run to do: the original, the profile it runs with, the turns it sends."""

    conv: Conversation
    profile: Profile
    turns: list[OldTurn]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Estimate:
    """What a whole re-run may cost, before anything is sent.

    A turn's prompt holds every earlier user turn and *new* answer, unknown until they
    arrive: ``prompt_tokens_min`` counts those answers as empty, ``prompt_tokens_max``
    as long as the output allowance (``max_tokens``, or what the context window
    leaves). ``cost_max`` is the bound ``--max-cost`` is checked against; ``cost_expected``
    takes the original's answers as a guide to the new ones' lengths.
    """

    model: str
    turns: int
    prompt_tokens_min: int
    prompt_tokens_max: int | None
    exact: bool
    encoding: str | None
    cost_min: float | None
    cost_max: float | None
    cost_expected: float | None
    context_window: int | None
    max_output: int | None  # per reply

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "turns": self.turns,
            "prompt_tokens_min": self.prompt_tokens_min,
            "prompt_tokens_max": self.prompt_tokens_max,
            "exact": self.exact,
            "encoding": self.encoding,
            "cost_min": round_usd(self.cost_min),
            "cost_max": round_usd(self.cost_max),
            "cost_expected": round_usd(self.cost_expected),
            "context_window": self.context_window,
            "max_output_tokens": self.max_output,
        }


def _side_totals(items: list[OldTurn] | list[NewTurn]) -> dict[str, Any]:
    usages = [i.usage for i in items]
    costs = [i.cost for i in items]
    lats = [i.latency for i in items]
    whole = all(usages)
    return {
        "prompt_tokens": sum(to_int(u.get("prompt_tokens")) for u in usages if u) if whole else None,
        "completion_tokens": sum(to_int(u.get("completion_tokens")) for u in usages if u) if whole else None,
        "cost": round_usd(sum(c for c in costs if c is not None)) if costs and None not in costs else None,
        "latency": round(sum(x for x in lats if x is not None), 4) if lats and None not in lats else None,
    }


@dataclass
class RerunResult:
    """A re-run as it stands: filled turn by turn, so a failure keeps the finished ones."""

    conversation_id: str | None
    plan: Plan
    estimate: Estimate | None
    pairs: list[tuple[OldTurn, NewTurn]] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, Any]]:
        """Tokens, cost and latency summed over the turns, old and new."""
        return {
            "old": _side_totals([o for o, _ in self.pairs]),
            "new": _side_totals([n for _, n in self.pairs]),
        }

    def to_dict(self) -> dict[str, Any]:
        conv = self.plan.conv
        return {
            "conversation_id": self.conversation_id,
            "replay_of": conv.id,
            "profile": self.plan.profile.name,
            "model": self.plan.profile.model,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "notes": list(self.plan.notes),
            "turns": [_pair_dict(o, n) for o, n in self.pairs],
            "totals": self.totals(),
        }


def _pair_dict(o: OldTurn, n: NewTurn) -> dict[str, Any]:
    return {
        "user": o.user,
        "old": {"text": o.text, "model": o.model, "usage": o.usage, "cost": o.cost, "latency": o.latency},
        "new": {
            "text": n.text,
            "model": n.model,
            "usage": n.usage,
            "cost": n.cost,
            "latency": n.latency,
            "finish_reason": n.finish_reason,
            "incomplete": n.incomplete,
        },
        "same": o.text == n.text,
    }
