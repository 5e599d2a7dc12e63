"""The conversation use cases: one turn (``ask``), many turns (``chat``), re-runs (``replay``).

A ``Session`` holds a profile and a history, and runs turns: it builds the request,
checks tokens and cost first, streams through the client, and appends every message
to the store as it happens. It yields events (``Preflight``, ``Notice``, ``Delta``)
and returns a ``Turn``; it never prints. History always carries the assistant's
replies, so the model sees its own earlier answers.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from . import client, preflight, store, tokens
from .errors import GptcliError, Interrupted
from .models import Completion, Delta, Notice, Preflight, Profile, Turn

Event = Preflight | Notice | Delta


@dataclass(frozen=True)
class DryRun:
    """What ``--dry-run`` shows: the exact body, its estimate, and the adaptations made."""

    body: dict[str, Any]
    preflight: Preflight
    notes: tuple[str, ...]
    base_url: str


@dataclass
class Session:
    profile: Profile
    messages: list[dict[str, Any]] = field(default_factory=list)
    log: bool = True
    conversation_id: str | None = None
    total_cost: float = 0.0
    _writer: store.Writer | None = None
    _meta: dict[str, Any] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)  # history to copy into a new file

    @classmethod
    def start(cls, profile: Profile, *, log: bool = True, **meta: Any) -> Session:
        s = cls(profile, log=log)
        if profile.system:
            s.messages.append({"role": "system", "content": profile.system})
        s._meta = meta
        return s

    @classmethod
    def resume(cls, profile: Profile, conv: store.Conversation, *, log: bool = True) -> Session:
        """Continue a saved conversation; a file outside the store is copied into a new one."""
        s = cls(profile, messages=conv.messages, log=log)
        if conv.system is None and profile.system:
            s.messages.insert(0, {"role": "system", "content": profile.system})
        if not log:
            return s
        try:
            s._writer = store.reopen(conv)
            s.conversation_id = conv.id
        except GptcliError:
            s._meta = {"continued_from": str(conv.path)}
            s._pending = list(s.messages)
        return s

    # -- the store --------------------------------------------------------------------

    def _ensure_writer(self) -> store.Writer | None:
        if not self.log:
            return None
        if self._writer is None:
            self._writer = store.create(self.profile.name, self.profile.settings(), **self._meta)
            self.conversation_id = self._writer.id
            pending = self._pending or [m for m in self.messages if m["role"] == "system"]
            for m in pending:
                self._writer.message(m["role"], m["content"])
            self._pending = []
        return self._writer

    def note(self, text: str, **extra: Any) -> None:
        if self._writer is not None:
            self._writer.note(text, **extra)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- one turn -------------------------------------------------------------------------

    def request_messages(self, user_text: str) -> list[dict[str, Any]]:
        return [*self.messages, {"role": "user", "content": user_text}]

    def dry_run(
        self, user_text: str, *, max_cost: float | None = None, extra_body: dict[str, Any] | None = None
    ) -> DryRun:
        messages = self.request_messages(user_text)
        pre = preflight.check(self.profile, messages, exact=True, max_cost=max_cost)
        built = client.build_body(self.profile, messages, stream=False)
        body = {**built.body, **(extra_body or {})}
        return DryRun(body, pre, built.notes, self.profile.base_url or "https://api.openai.com/v1")

    def turn(
        self,
        user_text: str,
        *,
        stream: bool = True,
        max_cost: float | None = None,
        exact: bool = False,
        extra_body: dict[str, Any] | None = None,
    ) -> Generator[Event, None, Turn]:
        """Send one user message with the whole history; keep the reply in the history."""
        messages = self.request_messages(user_text)
        warnings: list[str] = []
        pre = preflight.check(self.profile, messages, exact=exact, max_cost=max_cost, warn=warnings.append)
        for w in warnings:
            yield Notice(w, "warning")
        yield pre
        built = client.build_body(self.profile, messages, stream=stream)
        body = {**built.body, **(extra_body or {})}
        key = client.api_key(self.profile)
        notices = list(built.notes)
        for note in built.notes:
            yield Notice(note)
        writer = self._ensure_writer()
        if writer is not None:
            for note in built.notes:
                writer.note(note, kind="parameter")
            writer.message("user", user_text)
        self.messages.append({"role": "user", "content": user_text})

        retried: list[str] = []
        texts: dict[int, list[str]] = {}
        start = time.monotonic()
        try:
            gen = client.send(self.profile, body, key=key, notice=retried.append)
            while True:
                try:
                    event = next(gen)
                except StopIteration as stop:
                    completion: Completion = stop.value
                    break
                for r in retried:
                    notices.append(r)
                    if writer is not None:
                        writer.note(r, kind="parameter")
                    yield Notice(r, "warning")
                retried.clear()
                texts.setdefault(event.index, []).append(event.text)
                yield event
        except KeyboardInterrupt:
            partial = _partial(texts, self.profile.model, time.monotonic() - start, interrupted=True)
            self._keep(partial, pre, body, writer)
            raise Interrupted("interrupted; the partial reply was kept") from None
        except GptcliError as e:
            for r in retried:  # a second chance that failed too: still say what was tried
                if writer is not None:
                    writer.note(r, kind="parameter")
                yield Notice(r, "warning")
            partial_c = getattr(e, "partial", None)
            if isinstance(partial_c, Completion) and partial_c.text:
                self._keep(partial_c, pre, body, writer)
            elif writer is not None:
                writer.note(f"error: {e.message}", kind="error", exit_code=int(e.exit_code))
            raise
        for r in retried:
            notices.append(r)
            if writer is not None:
                writer.note(r, kind="parameter")
            yield Notice(r, "warning")
        cost = self._keep(completion, pre, body, writer)
        return Turn(self.conversation_id, completion, cost, pre, body, tuple(notices))

    def _keep(
        self, completion: Completion, pre: Preflight, body: dict[str, Any], writer: store.Writer | None
    ) -> float | None:
        """Add the reply to the history and the log; return its cost."""
        info = tokens.model_info(self.profile.model, self.profile.base_url, self.profile.price,
                                 self.profile.context_window)
        usage = completion.usage
        cost = None
        if usage is not None:
            cost = tokens.cost(info.price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        if cost is not None:
            self.total_cost += cost
        self.messages.append({"role": "assistant", "content": completion.text})
        if writer is not None:
            extra: dict[str, Any] = {
                "model": completion.model,
                "finish_reason": completion.finish_reason,
                "usage": usage.to_dict() if usage else None,
                "estimated_prompt_tokens": pre.prompt_tokens,
                "estimate_exact": pre.exact,
                "estimated_cost": [pre.cost_min, pre.cost_max],
                "cost": cost,
                "latency": round(completion.latency, 4),
            }
            if len(completion.texts) > 1:
                extra["choices"] = list(completion.texts)
                extra["finish_reasons"] = list(completion.finish_reasons)
            if completion.incomplete:
                extra["incomplete"] = True
            if completion.interrupted:
                extra["interrupted"] = True
            writer.message("assistant", completion.text, **extra)
        return cost

    def with_profile(self, profile: Profile) -> None:
        """Switch settings mid-conversation (chat's /model, /set, /profile)."""
        self.profile = profile


def _partial(texts: dict[int, list[str]], model: str, latency: float, *, interrupted: bool) -> Completion:
    n = max(texts) + 1 if texts else 1
    joined = tuple("".join(texts.get(i, [])) for i in range(n))
    return Completion(joined, (None,) * n, model, None, latency, incomplete=True, interrupted=interrupted)


def load_for_continue(ref: str | None) -> store.Conversation:
    """The conversation ``ask -c`` / ``chat --resume`` continue (shared with replay)."""
    return store.load(ref)

