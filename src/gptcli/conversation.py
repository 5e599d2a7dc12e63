"""The conversation use cases: one turn (``ask``), many turns (``chat``), re-runs (``replay``).

A ``Session`` holds a profile and a history, and runs turns: it builds the request,
checks tokens and cost first, streams through the client, and appends every message
to the store as it happens. It yields events (``Preflight``, ``Notice``, ``Delta``)
and returns a ``Turn``; it never prints. History always carries the assistant's
replies, so the model sees its own earlier answers. The server is reached through a
``backend.Backend``: the profile's (``client.backend_for``) unless one is passed in.
The request itself (its body, the stream, interruption and errors) is ``sending``; the
records a turn leaves (the log's reply fields, ``--json``) are ``turn_records``; fitting
the history into the context window is ``context_window``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import budget, client, context_window, reasoning, sending, spend, store, tokens, turn_records
from .attachments import capable, parts, stash
from .backend import Backend
from .context_window import Context as Context  # chat's /tokens and status line
from .errors import GptcliError, UsageError
from .history_edits import HistoryEdits
from .models import Completion, Delta, Notice, Preflight, Profile, Turn
from .sending import Content, text_of

# Moved out in the house split (issue 13); still importable from here for code written before it.
from .structured import check_output as check_output
from .structured import with_json_hint as with_json_hint
from .turn_records import DryRun as DryRun
from .turn_records import dry_run_record as dry_run_record
from .turn_records import estimate_record as estimate_record
from .turn_records import turn_record as turn_record

Event = Preflight | Notice | Delta


@dataclass
class Session(HistoryEdits):
    profile: Profile
    messages: list[dict[str, Any]] = field(default_factory=list)
    log: bool = True
    conversation_id: str | None = None
    total_cost: float = 0.0
    _writer: store.Writer | None = None
    _meta: dict[str, Any] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)  # history to copy into a new file
    _trim_window: int = 0
    _counters: dict[tuple[str, str | None], budget.Counter] = field(default_factory=dict, repr=False)
    _lock: Any = None  # filelock.Lock on the conversation being continued (issue 17 #6)
    _names: dict[str, str] = field(default_factory=dict)  # this turn's attachments: sha256 -> name given
    backend: Backend | None = None  # None: the profile's (client.backend_for), looked up per turn
    # The last user message if its reply failed: history (it stays in the log, marked failed),
    # not context (never sent again) unless ``retry`` resends it.
    failed_turn: dict[str, Any] | None = None
    tag: str | None = None  # --tag: billed to this project in the log (``gptcli usage --by tag``)

    @classmethod
    def start(cls, profile: Profile, *, log: bool = True, backend: Backend | None = None, **meta: Any) -> Session:
        s = cls(profile, log=log, backend=backend)
        if profile.system:
            s.messages.append({"role": "system", "content": profile.system})
        s._meta = meta
        return s

    @classmethod
    def resume(
        cls, profile: Profile, conv: store.Conversation, *, log: bool = True, backend: Backend | None = None
    ) -> Session:
        """Continue a saved conversation; a file outside the store is copied into a new one."""
        s = cls(profile, messages=conv.messages, log=log, backend=backend)
        if conv.system is None and profile.system and not conv.meta.get("settings"):
            s.messages.insert(0, {"role": "system", "content": profile.system})  # a foreign file
        last = conv.records[-1] if conv.records else None
        if last is not None and last.get("failed"):
            s.failed_turn = {"content": stash.logged_content(last), "error": last.get("error")}
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
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- one turn -------------------------------------------------------------------------

    def request_messages(self, user_text: Content | None) -> list[dict[str, Any]]:
        """The history plus ``user_text``; for None (``retry``), the history without its last reply."""
        if user_text is None:
            end = len(self.messages) - (1 if self.messages and self.messages[-1]["role"] == "assistant" else 0)
            return self.messages[:end]
        return [*self.messages, {"role": "user", "content": user_text}]

    def dry_run(
        self,
        user_text: Content,
        *,
        max_cost: float | None = None,
        extra_body: dict[str, Any] | None = None,
        attachments: Any = None,
    ) -> DryRun:
        messages = self.request_messages(parts.with_attachments(user_text, attachments))
        capable.check_messages(self.profile, messages)
        pre = budget.check(self.profile, messages, exact=True, max_cost=max_cost, counter=self._counter())
        built = client.build_body(spend.sending(self.profile, pre), messages, stream=False)
        body = {**built.body, **(extra_body or {})}
        request = self.current_backend().describe_request(self.profile, body)
        return DryRun(body, pre, (*pre.notes, *built.notes), self.profile.server_url, request)

    def current_backend(self) -> Backend:
        return self.backend or client.backend_for(self.profile)

    def turn(
        self,
        user_text: Content | None,
        *,
        stream: bool = True,
        max_cost: float | None = None,
        exact: bool = False,
        extra_body: dict[str, Any] | None = None,
        extra_prompt_tokens: int = 0,
        continuing: bool = False,
        attachments: Any = None,
    ) -> Generator[Event, None, Turn]:
        """``_turn`` with the conversation file locked: another gptcli continuing the same
        conversation waits, so a question and its answer stay together in the file.

        ``continuing``: no new question; the history (ending with tool results) is sent as
        it is (a tool loop's next step). ``extra_prompt_tokens``: the tool definitions'.
        ``attachments`` (``attachments.detect.Attachment``) go with ``user_text`` as content parts.
        """
        self._names = {a.sha256: a.name for a in attachments or () if a.sha256}  # for the log's references
        user_text = parts.with_attachments(user_text, attachments)
        lock = None
        if self._lock is None and self._writer is not None:
            lock = lock_conversation(self._writer.path)
        try:
            return (
                yield from self._turn(
                    user_text,
                    stream=stream,
                    max_cost=max_cost,
                    exact=exact,
                    extra_body=extra_body,
                    extra_prompt_tokens=extra_prompt_tokens,
                    continuing=continuing,
                )
            )
        finally:
            if lock is not None:
                lock.release()

    def _turn(
        self,
        user_text: Content | None,
        *,
        stream: bool = True,
        max_cost: float | None = None,
        exact: bool = False,
        extra_body: dict[str, Any] | None = None,
        extra_prompt_tokens: int = 0,
        continuing: bool = False,
    ) -> Generator[Event, None, Turn]:
        """Send one user message with the whole history; keep the reply in the history.

        ``user_text=None`` regenerates the last reply (``retry``), or resends the question
        whose reply failed. When the history does not fit the context window, the oldest
        exchanges are left out of the request (never the system prompt), with a Notice
        and a note in the log. A turn that fails before any text arrives leaves its
        question out of the history (``failed_turn``); the log keeps it, marked failed.
        """
        resend = continuing or (user_text is None and self.failed_turn is not None)
        if resend and not continuing:
            assert self.failed_turn is not None
            user_text = self.failed_turn["content"]
        messages, omitted = self.fit(list(self.messages) if continuing else self.request_messages(user_text))
        capable.check_messages(self.profile, messages)  # exit 3 before anything is sent (README "Attachments")
        warnings: list[str] = []
        if omitted:
            warnings.append(self._trim_text(omitted))
        counter = self._counter()
        counter.warn_to(warnings.append)
        pre, reservation = spend.preflight(
            self.profile,
            messages,
            exact=exact,
            max_cost=max_cost,
            counter=counter,
            extra_prompt_tokens=extra_prompt_tokens,
        )
        with spend.settling(reservation) as settle:
            return (
                yield from sending.send_turn(
                    self, user_text, messages, pre, warnings, omitted, stream, extra_body, settle, resend
                )
            )

    def log_question(
        self, user_text: Content | None, notes: tuple[str, ...], omitted: int, resend: bool
    ) -> store.Writer | None:
        """The question into the history and the log (a new file on the first turn), with the request's notes."""
        if user_text is not None and not self._meta.get("title"):
            self._meta["title"] = make_title(text_of(user_text))
        fresh = self._writer is None
        writer = self._ensure_writer()
        if writer is not None:
            for note in notes:
                writer.note(note, kind="parameter")
            if omitted:
                writer.note(self._trim_text(omitted), kind="trim", omitted=omitted)
        if user_text is None:
            if not resend:  # resend without a question: a tool loop's next step, nothing to withdraw
                self._withdraw_reply()
        else:
            if writer is not None and (fresh or not resend):  # a resent question is in the log already
                writer.message("user", user_text, names=self._names)
            self.messages.append({"role": "user", "content": user_text})
            self.failed_turn = None  # a new question: an earlier failed one stays history
        return writer

    def mark_failed(self, error: str) -> None:
        """The question just sent got no reply: out of the context, kept for ``retry``."""
        if self.messages and self.messages[-1]["role"] == "user":
            self.failed_turn = {"content": self.messages.pop()["content"], "error": error}

    def reasoning_tags(self) -> tuple[str, str] | None:
        return reasoning.profile_tags(self.profile.parse_reasoning_tags, self.profile.reasoning_tags)

    def separate(self, completion: Completion) -> Completion:
        """The reply's thinking apart from its text, and its reasoning tokens counted if not reported."""
        completion = reasoning.separate(completion, self.reasoning_tags())
        return reasoning.with_reasoning_tokens(completion, self._count_text)

    def _count_text(self, text: str) -> int:
        try:
            return tokens.count_text(text, self.profile.model, self.profile.encoding)
        except tokens.EncodingUnavailable:
            return tokens.approx_tokens([{"role": "assistant", "content": text}]) - tokens.approx_tokens([])

    def keep_reply(
        self,
        completion: Completion,
        pre: Preflight,
        body: dict[str, Any],
        writer: store.Writer | None,
        messages: list[dict[str, Any]],
        *,
        error: GptcliError | None = None,
        history: bool = True,
    ) -> tuple[float | None, bool]:
        """Add the reply to the history (unless ``history`` is false) and the log; return its cost
        and whether it is estimated (no usage from the server: priced from counted tokens)."""
        cost, estimated = spend.reply_cost(self.profile, self._counter(), completion, messages)
        if cost is not None:
            self.total_cost += cost
        if history:
            reply: dict[str, Any] = {"role": "assistant", "content": completion.text}
            if completion.tool_calls:  # a tool loop's step: the calls are answered by tool messages next
                reply = {**reply, "content": completion.text or None, "tool_calls": list(completion.tool_calls)}
            self.messages.append(reply)
        if writer is not None:
            extra = turn_records.reply_record(
                completion, pre, cost=cost, estimated=estimated, tag=self.tag, error=error
            )
            if completion.tool_calls:
                extra["tool_calls"] = list(completion.tool_calls)
            writer.message("assistant", completion.text, **extra)
        return cost, estimated

    def add_tool_result(self, message: dict[str, Any], fields: dict[str, Any]) -> None:
        """A tool loop's tool message (the answer to one call) into the history and the log."""
        self.messages.append(message)
        if self._writer is not None:
            self._writer.message("tool", str(message.get("content") or ""), **fields)

    def with_profile(self, profile: Profile) -> None:
        """Switch settings mid-conversation (chat's /model, /set, /profile)."""
        self.profile = profile

    # -- chat: retry, reset (undo, the title and the system prompt: ``HistoryEdits``) ---------

    def retry(self, **kwargs: Any) -> Generator[Event, None, Turn]:
        """Regenerate the last reply (or answer a question whose reply failed or was cut off)."""
        if self.failed_turn is None and not any(m["role"] == "user" for m in self.messages):
            raise UsageError("nothing to retry yet")
        return (yield from self.turn(None, **kwargs))

    def reset(self) -> None:
        """Start a new conversation with the same settings and system prompt (a new log file on the next turn)."""
        system = self.system
        self.close()
        self.messages = [{"role": "system", "content": system}] if system else []
        self.conversation_id = None
        self._meta = {k: v for k, v in self._meta.items() if k == "output"}
        self._pending = []
        self.failed_turn = None

    def _counter(self) -> budget.Counter:
        """The profile's ``budget.Counter`` (one per model and encoding: /model keeps the others' caches)."""
        key = (self.profile.model, self.profile.encoding)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = budget.Counter.for_profile(self.profile)
        return counter

    def context(self) -> Context:
        """The tokens the history takes (what the next request carries before its question)."""
        return context_window.context(self.profile, self._counter(), self.messages)

    def fit(self, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """``messages`` within the context window (``context_window.fit``); how many were left out."""
        kept, omitted, window = context_window.fit(self.profile, self._counter(), messages)
        if omitted:
            self._trim_window = window or 0
        return kept, omitted

    def _trim_text(self, omitted: int) -> str:
        return context_window.trim_text(omitted, self.profile.model, self._trim_window)


def make_title(text: str) -> str:
    """A conversation's title from a text: its first non-blank line, cut to 60 characters."""
    from .transcript import title_from

    return title_from(text)


def load_for_continue(ref: str | None) -> store.Conversation:
    """The conversation ``ask -c`` / ``chat --resume`` continue (shared with replay)."""
    return store.load(ref)


def lock_conversation(path: Path) -> Any:
    """Wait for (then hold) the conversation at ``path``: one turn at a time per conversation."""
    from . import filelock

    return filelock.acquire("conversation", path, wait=True)
