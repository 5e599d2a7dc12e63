"""Re-run: the same user turns, in order, through a ``conversation.Session`` with another
profile, model or overrides.

``plan_rerun`` picks the profile and the turns; ``rerun`` sends them one by one (the
history is built from the new answers) and yields the Session's events between a
``TurnStart`` and a ``TurnDone`` per turn; the new conversation records ``replay_of``.
The whole re-run is priced first (``replay.estimate``). Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

from .. import store
from ..errors import NotFoundError, UsageError
from ..models import SAMPLING_KEYS
from ..transcript import NewTurn, OldTurn, Plan, RerunResult, old_turns

# Settings of the original that a re-run keeps unless a profile or a flag says otherwise.
CARRIED = ("model", *SAMPLING_KEYS, "params")


def plan_rerun(conv: store.Conversation, profile_name: str | None, overrides: dict[str, Any]) -> Plan:
    """The profile a re-run uses, and the turns it sends.

    Without ``-p`` the re-run starts from the original: its profile (when it still
    exists), its recorded model and sampling settings (``CARRIED``) and its system
    message. ``-p`` starts from that profile instead (its system prompt, if it has one,
    else the original's). Flags override either. ``base_url``, keys and headers always
    come from the profile and environment, never from the file.
    """
    from .. import profiles

    explicit = {k: v for k, v in overrides.items() if v is not None}
    notes: list[str] = []
    turns = old_turns(conv)
    if not turns:
        raise UsageError(f"{conv.id}: no user turns to re-run")
    if profile_name is not None:
        prof = profiles.resolve(profile_name, explicit)
        system = explicit.get("system") or prof.system or conv.system
    else:
        carried = _carried(conv, profiles.validate)
        base = conv.meta.get("profile") if isinstance(conv.meta.get("profile"), str) else None
        merged = {**carried, **explicit}
        try:
            prof = profiles.resolve(base, merged)
        except NotFoundError:
            notes.append(f"profile {base!r} of the original no longer exists; using the default profile")
            prof = profiles.resolve(None, merged)
        system = explicit.get("system") if "system" in explicit else conv.system
    prof = replace(prof, system=system or None)
    return Plan(conv, prof, turns, tuple(notes))


def _carried(conv: store.Conversation, validate: Callable[[str, Any], Any]) -> dict[str, Any]:
    conf = conv.meta.get("settings")
    if not isinstance(conf, dict):
        return {}
    out: dict[str, Any] = {}
    for key in CARRIED:
        value = conf.get(key)
        if value is None or value == [] or value == {}:
            continue
        try:
            validate(key, value)
        except (ValueError, KeyError, TypeError):
            continue  # a hand-edited or foreign value: the profile's applies
        out[key] = value
    return out


@dataclass(frozen=True)
class TurnStart:
    """A re-run is about to send user turn ``index`` (0-based) of ``total``."""

    index: int
    total: int
    user: str


@dataclass(frozen=True)
class TurnDone:
    """User turn ``index`` got its new reply."""

    index: int
    total: int
    old: OldTurn
    new: NewTurn


def rerun(
    plan: Plan,
    result: RerunResult,
    *,
    max_cost: float | None = None,
    stream: bool = True,
    log: bool = True,
    exact: bool = False,
    tools: Any = None,
) -> Generator[Any, None, RerunResult]:
    """Send the plan's user turns in order; yield TurnStart, the Session's events and TurnDone.

        ``result`` is filled as turns finish, so a caller still has the finished turns when a
        later one fails. Each turn is also checked against what is left of ``max_cost``.
    ``tools`` (a ``tools.loop.ToolRun``): each turn runs the tool loop.
    """
    from .. import conversation

    conv = plan.conv
    meta: dict[str, Any] = {"replay_of": conv.id}
    if conv.path is not None and conv.path.resolve().parent != store.conversations_dir().resolve():
        meta["replay_source"] = str(conv.path.resolve())
    session = conversation.Session.start(plan.profile, log=log, **meta)
    spent = 0.0
    total = len(plan.turns)
    try:
        for i, old in enumerate(plan.turns):
            yield TurnStart(i, total, old.user)
            remaining = None if max_cost is None else max(max_cost - spent, 0.0)
            attached = _attachments(old)
            if tools is not None:  # a tools.loop.ToolRun: the calls run again, or answered from the log
                from ..tools.loop import run_turn

                turn = yield from run_turn(
                    session, old.user, tools, stream=stream, max_cost=remaining, exact=exact, attachments=attached
                )
            else:
                turn = yield from session.turn(
                    old.user, stream=stream, max_cost=remaining, exact=exact, attachments=attached
                )
            result.conversation_id = session.conversation_id
            spent += turn.cost or 0.0
            new = NewTurn.from_turn(turn)
            result.pairs.append((old, new))
            yield TurnDone(i, total, old, new)
    finally:
        result.conversation_id = session.conversation_id
        session.close()
    return result


def _attachments(old: OldTurn) -> list[Any] | None:
    """The question's attachments, the same bytes read back from the stash; UsageError if one is gone."""
    if not old.attachments:
        return None
    from ..attachments import stash

    atts, missing = stash.attachments(list(old.attachments))
    if missing:
        raise UsageError(missing[0], hint="the re-run would not send what the original sent")
    return atts
