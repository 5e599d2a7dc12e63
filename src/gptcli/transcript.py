"""What a saved conversation holds and what a re-run of it produced, as values.

The core that both the ``replay`` use case and the renderers (``render.transcript``,
``render.diff``) read: a conversation's summary and messages, the old and new turns
of a re-run, its plan, estimate and result, and the two short strings they all show
(``shorten``, ``reply_stats``). Pure functions and frozen dataclasses: nothing here
reads files (``summary`` only stats one), sends requests or prints, and nothing imports a use case or a renderer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .models import usd

if TYPE_CHECKING:
    from .models import Profile, Turn
    from .store import Conversation

PROMPT_CHARS = 100  # the first prompt is kept this short in the index and the listing
TITLE_CHARS = 60  # a conversation's title, unless set: its first user line, this short


def iso_utc(dt: datetime) -> str:
    """A time as ``store.now_iso`` writes it: UTC, milliseconds, ``Z``."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def norm_time(value: Any) -> str | None:
    """A timestamp as ``store.now_iso`` writes it (UTC, ms, ``Z``), so strings compare as times."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 24 and value.endswith("Z") and value[10] == "T":
        return value  # already ours: the common case, no parsing
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return iso_utc(dt)


def to_int(value: Any) -> int:
    """A token count from a record, 0 when missing or not a number."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def round_usd(x: float | None) -> float | None:
    return None if x is None else round(x, 10)


def title_from(text: str) -> str:
    """A title from a text: its first non-blank line, blanks collapsed, cut to 60 characters."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return shorten(line, TITLE_CHARS)


def shorten(text: str, limit: int = PROMPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def reply_stats(
    model: str | None, usage: dict[str, Any] | None, cost: float | None, latency: float | None, *, priced: bool = True
) -> str:
    """``gpt-4o-mini · 12 in / 5 out · $0.00001 · 0.42 s`` (the parts that are known)."""
    parts = []
    if model:
        parts.append(model)
    if usage:
        out = f"{to_int(usage.get('prompt_tokens')):,} in / {to_int(usage.get('completion_tokens')):,} out"
        if thought := to_int(usage.get("reasoning_tokens")):
            est = usage.get("reasoning_estimated") is True
            out += f" ({'~' if est else ''}{thought:,} reasoning{', estimated' if est else ''})"
        parts.append(out)
    else:
        parts.append("usage not recorded")
    if priced or cost is not None:
        parts.append(usd(cost))
    if latency is not None:
        parts.append(f"{latency:.2f} s")
    return " · ".join(parts)


# --- a saved conversation -----------------------------------------------------------------


def summarize(conv: Conversation, mtime: float) -> dict[str, Any]:
    """What the listing shows and filters on, for one loaded conversation."""
    meta = conv.meta
    conf: dict[str, Any] = meta["settings"] if isinstance(meta.get("settings"), dict) else {}
    models: list[str] = []
    requested = conf.get("model")
    if isinstance(requested, str) and requested:
        models.append(requested)
    turns = failed = 0
    title = meta.get("title") if isinstance(meta.get("title"), str) else None
    for note in getattr(conv, "notes", ()):
        if note.get("kind") == "title" and isinstance(note.get("title"), str):
            title = note["title"]
    cost = 0.0
    priced = unpriced = 0
    prompt_tokens = completion_tokens = 0
    first: str | None = None
    last_time: str | None = None
    incomplete = False
    for r in conv.records:
        if isinstance(r.get("time"), str):
            last_time = r["time"]
        role = r["role"]
        if role == "user":
            turns += 1
            failed += 1 if r.get("failed") else 0
            if first is None:
                first = str(r.get("content") or "")
        elif role == "assistant":
            model = r.get("model")
            if isinstance(model, str) and model and model not in models:
                models.append(model)
            c = r.get("cost")
            if isinstance(c, int | float) and not isinstance(c, bool):
                cost += c
                priced += 1
            else:
                unpriced += 1
            usage = r.get("usage")
            if isinstance(usage, dict):
                prompt_tokens += to_int(usage.get("prompt_tokens"))
                completion_tokens += to_int(usage.get("completion_tokens"))
            if r.get("incomplete"):
                incomplete = True
    mtime_iso = iso_utc(datetime.fromtimestamp(mtime, UTC))
    created = norm_time(meta.get("created")) or norm_time(conv.records[0].get("time") if conv.records else None)
    created = created or mtime_iso
    updated = norm_time(last_time) or created
    profile = meta.get("profile")
    out: dict[str, Any] = {
        "id": conv.path.stem if conv.path is not None else conv.id,
        "created": created,
        "updated": max(updated, created),
        "profile": profile if isinstance(profile, str) else None,
        "model": models[0] if models else None,
        "models": models,
        "turns": turns,
        "failed": failed,
        "title": title or title_from(first or ""),
        "messages": len(conv.records),
        "cost": round(cost, 10) if priced else None,
        "unpriced": unpriced,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "first_prompt": shorten(first or ""),
    }
    for key in ("replay_of", "continued_from", "source", "comparison"):
        if isinstance(meta.get(key), str):
            out[key] = meta[key]
    if incomplete:
        out["incomplete"] = True
    spend = spend_rows(conv)
    if spend:
        out["spend"] = spend
    if conv.warnings:
        out["warnings"] = len(conv.warnings)
    return out


# One row of a summary's "spend": what ``gptcli usage`` adds up, per UTC day, model and tag.
SPEND_FIELDS = (
    "day",
    "model",
    "tag",
    "requests",
    "failures",
    "cost",
    "estimate",
    "prompt_tokens",
    "completion_tokens",
    "estimated",
    "unpriced",
)


def spend_rows(conv: Conversation) -> list[list[Any]]:
    """The requests of ``conv`` (``billed``: undone and retried replies too), summed per
    (UTC day, model, tag) as lists in ``SPEND_FIELDS`` order. ``estimate`` sums the
    preflight's worst case of the priced replies (how good estimates were)."""
    default_model = conv.meta.get("settings", {}).get("model") if isinstance(conv.meta.get("settings"), dict) else None
    rows: dict[tuple[str, str, str], list[Any]] = {}
    for r in conv.billed:
        day = str(r.get("time") or "")[:10]
        model = r.get("model") if isinstance(r.get("model"), str) else default_model
        tag = str(r["tag"]) if isinstance(r.get("tag"), str) else ""
        row = rows.setdefault((day, str(model or "?"), tag), [day, str(model or "?"), tag, 0, 0, 0.0, 0.0, 0, 0, 0, 0])
        row[3] += 1
        if r.get("type") == "note":
            row[4] += 1
            continue
        c = r.get("cost")
        if isinstance(c, int | float) and not isinstance(c, bool):
            row[5] += c
            est = r.get("estimated_cost")
            if isinstance(est, list) and len(est) == 2 and isinstance(est[1], int | float):
                row[6] += est[1]
            if r.get("cost_estimated"):
                row[9] += 1
        else:
            row[10] += 1
        usage = r.get("usage")
        if isinstance(usage, dict):
            row[7] += to_int(usage.get("prompt_tokens"))
            row[8] += to_int(usage.get("completion_tokens"))
    return [[*row[:5], round(row[5], 10), round(row[6], 10), *row[7:]] for row in rows.values()]


def summary(conv: Conversation) -> dict[str, Any]:
    """``summarize`` dated by the file's mtime (now, for a conversation with no file or an unreadable one)."""
    try:
        mtime = conv.path.stat().st_mtime if conv.path is not None else time.time()
    except OSError:
        mtime = time.time()
    return summarize(conv, mtime)


@dataclass(frozen=True)
class Message:
    """One message of a transcript, with what ``-v`` shows about a reply."""

    role: str
    content: str
    model: str | None = None
    usage: dict[str, Any] | None = None
    cost: float | None = None
    latency: float | None = None
    incomplete: bool = False
    priced: bool = False  # the record says what the reply cost (``cost`` may still be null: unknown)
    failed: bool = False  # a user message whose reply failed: left out of later requests
    error: str | None = None  # why it failed
    interrupted: bool = False
    reasoning: str | None = None  # a reasoning model's thinking, kept apart from the content
    # A tool loop (issue 20): an assistant step's calls (``tool {json arguments}``), and a
    # tool message's tool and how the call went (``ok``, ``refused``, ...).
    calls: tuple[str, ...] = ()
    tool: str | None = None
    tool_status: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()  # the log's references (README "Attachments")


def messages(conv: Conversation) -> list[Message]:
    out = []
    for r in conv.records:
        usage = r.get("usage") if isinstance(r.get("usage"), dict) else None
        cost = r.get("cost") if isinstance(r.get("cost"), int | float) else None
        latency = r.get("latency") if isinstance(r.get("latency"), int | float) else None
        model = r.get("model") if isinstance(r.get("model"), str) else None
        out.append(
            Message(
                r["role"],
                str(r.get("content") or ""),
                model,
                usage,
                cost,
                latency,
                bool(r.get("incomplete")),
                "cost" in r,
                bool(r.get("failed")),
                str(r["error"]) if r.get("failed") and r.get("error") else None,
                bool(r.get("interrupted")),
                r["reasoning"] if isinstance(r.get("reasoning"), str) and r["reasoning"] else None,
                _calls(r.get("tool_calls")),
                str(r["tool"]) if r["role"] == "tool" and r.get("tool") else None,
                _tool_status(r) if r["role"] == "tool" else None,
                tuple(a for a in r.get("attachments") or () if isinstance(a, dict)),
            )
        )
    return out


def _calls(calls: Any) -> tuple[str, ...]:
    """An assistant record's ``tool_calls`` as ``name arguments`` lines (the wire names)."""
    if not isinstance(calls, list):
        return ()
    out = []
    for c in calls:
        fn = c.get("function") if isinstance(c, dict) else None
        if isinstance(fn, dict):
            out.append(f"{fn.get('name') or '?'} {' '.join(str(fn.get('arguments') or '{}').split())}")
    return tuple(out)


def _tool_status(r: dict[str, Any]) -> str:
    status = str(r.get("status") or "ok")
    if status == "ok" and r.get("is_error"):
        status = "error"
    duration = r.get("duration")
    return status + (f", {duration:.2f} s" if isinstance(duration, int | float) and status in ("ok", "error") else "")


# --- a re-run -------------------------------------------------------------------------------


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
