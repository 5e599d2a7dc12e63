"""Sending one request and streaming its reply: the step a turn takes (and a tool loop repeats).

* ``prepare``: the body for a message list (the profile's settings adapted to the model,
  ``extra_body`` on top) and the notes on what was adapted;
* ``Step``: one request sent once through the backend. ``Step.stream`` yields the reply
  as ``Delta``s, its thinking told apart from its answer (``reasoning.Splitter``), and
  returns the ``Completion``; ``Step.received`` keeps what arrived, so a Ctrl-C can keep
  a partial reply; ``Step.checks`` says what the reply lacks (choices, the --max-cost cap);
* ``send_turn``: a turn of a ``Session`` end to end: notices, the question logged, the
  step, then interruption and errors (what is kept, what leaves the history), the reply
  kept in the history and the log.

A message's ``content`` may be a string or a list of content parts (text and images):
where text is needed (a title), ``text_of`` takes it.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from . import client, reasoning, spend, store
from .backend import Backend
from .errors import GptcliError, IncompleteReply, Interrupted, StreamBroken
from .models import Completion, Delta, Notice, Preflight, Profile, Turn
from .turn_records import error_note

if TYPE_CHECKING:
    from .conversation import Event, Session

# A message's content: text, or OpenAI content parts ([{"type": "text", ...}, {"type": "image_url", ...}]).
Content = str | list[dict[str, Any]]


def text_of(content: Any) -> str:
    """The text of a message's content: the string, or its text parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def prepare(
    profile: Profile, pre: Preflight, messages: list[dict[str, Any]], *, stream: bool, extra_body: dict[str, Any] | None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The body to send for ``messages`` (``extra_body`` on top) and the notes on what was adapted."""
    built = client.build_body(spend.sending(profile, pre), messages, stream=stream)
    return {**built.body, **(extra_body or {})}, tuple(built.notes)


@dataclass
class Received:
    """What a stream delivered so far, per choice: the text and the thinking in its own field."""

    texts: dict[int, list[str]] = field(default_factory=dict)
    thoughts: dict[int, list[str]] = field(default_factory=dict)
    start: float = field(default_factory=time.monotonic)

    def add(self, event: Delta) -> None:
        self.texts.setdefault(event.index, []).append(event.text)
        self.thoughts.setdefault(event.index, []).append(event.reasoning)

    def partial(self, model: str, *, interrupted: bool) -> Completion:
        """A reply cut short, from what arrived."""
        n = max(self.texts) + 1 if self.texts else 1
        joined = tuple("".join(self.texts.get(i, [])) for i in range(n))
        thought = tuple("".join(self.thoughts.get(i, [])) for i in range(n))
        latency = time.monotonic() - self.start
        return Completion(
            joined, (None,) * n, model, None, latency, incomplete=True, interrupted=interrupted, reasonings=thought
        )


@dataclass
class Step:
    """One request: ``body`` sent once; second chances and what is noted go to ``notices`` and the log."""

    profile: Profile
    body: dict[str, Any]
    key: str
    backend: Backend
    writer: store.Writer | None
    tags: tuple[str, str] | None  # the thinking's tags in the text (reasoning.profile_tags)
    notices: list[str]
    received: Received = field(default_factory=Received)
    retried: list[str] = field(default_factory=list)

    def flush_retried(self, *, keep: bool = True) -> Iterator[Notice]:
        """The second chances the client took (a parameter dropped...): noted, logged, yielded."""
        for r in self.retried:
            if keep:
                self.notices.append(r)
            if self.writer is not None:
                self.writer.note(r, kind="parameter")
            yield Notice(r, "warning")
        self.retried.clear()

    def stream(self) -> Generator[Notice | Delta, None, Completion]:
        """Send the body; yield the reply as it arrives (answer and thinking apart); the Completion as sent."""
        splitters: dict[int, reasoning.Splitter] = {}
        gen = client.send(self.profile, self.body, key=self.key, notice=self.retried.append, backend=self.backend)
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                completion: Completion = stop.value
                break
            yield from self.flush_retried()
            self.received.add(event)
            answer, thought = splitters.setdefault(event.index, reasoning.Splitter(self.tags)).feed(event.text)
            if answer or event.reasoning or thought:
                yield Delta(answer, event.index, event.reasoning + thought)
        for i, splitter in splitters.items():
            answer, thought = splitter.finish()
            if answer or thought:
                yield Delta(answer, i, thought)
        return completion

    def checks(self, completion: Completion, pre: Preflight) -> Iterator[Notice]:
        """What the reply lacks: an answer (cut off while reasoning), choices, room (the --max-cost cap)."""
        if completion.in_reasoning:
            cut = cut_in_reasoning(completion)
            self.notices.append(cut)
            yield Notice(cut, "warning")
        asked = int(self.body.get("n") or 1)
        if len(completion.texts) < asked:
            short = f"the server returned {len(completion.texts)} of {asked} choices"
            self.notices.append(short)
            if self.writer is not None:
                self.writer.note(short, kind="choices", asked=asked, returned=len(completion.texts))
            yield Notice(short, "warning")
        if pre.capped and "length" in completion.finish_reasons:
            capped = f"the reply stopped at the --max-cost cap of {pre.max_output:,} output tokens"
            self.notices.append(capped)
            if self.writer is not None:
                self.writer.note(capped, kind="capped")
            yield Notice(capped, "warning")


def send_turn(
    session: Session,
    user_text: Content | None,
    messages: list[dict[str, Any]],
    pre: Preflight,
    warnings: list[str],
    omitted: int,
    stream: bool,
    extra_body: dict[str, Any] | None,
    settle: spend.Settle,
    resend: bool = False,
) -> Generator[Event, None, Turn]:
    """One turn's request: notices, the question logged, the reply streamed and kept."""
    for w in warnings:
        yield Notice(w, "warning")
    yield pre
    body, notes = prepare(session.profile, pre, messages, stream=stream, extra_body=extra_body)
    key = client.api_key(session.profile)
    notices = [*pre.notes, *notes]
    for note in notices:
        yield Notice(note)
    writer = session.log_question(user_text, notes, omitted, resend)
    step = Step(session.profile, body, key, session.current_backend(), writer, session.reasoning_tags(), notices)
    try:
        completion = yield from step.stream()
    except KeyboardInterrupt:
        interrupted(session, step, pre, messages, settle)
    except GptcliError as e:
        yield from step.flush_retried(keep=False)  # a second chance that failed too: still say what was tried
        e = failed(session, step, e, pre, messages, settle)  # rebound: the except clause still deletes it
        if isinstance(e, IncompleteReply):
            raise
        raise e from None
    yield from step.flush_retried()
    completion = session.separate(completion)
    yield from step.checks(completion, pre)
    cost, estimated = session.keep_reply(completion, pre, body, writer, messages)
    settle(cost)
    return Turn(session.conversation_id, completion, cost, pre, body, tuple(notices), estimated)


def interrupted(
    session: Session, step: Step, pre: Preflight, messages: list[dict[str, Any]], settle: spend.Settle
) -> NoReturn:
    """Ctrl-C during the reply: what arrived is kept (a partial answer) or noted (no answer yet)."""
    partial = session.separate(step.received.partial(session.profile.model, interrupted=True))
    writer = step.writer
    if not partial.text:
        # No answer yet: no empty reply in the history (a retry resends the question);
        # thinking that arrived is kept in the note.
        if writer is not None:
            writer.note("interrupted before the reply began", kind="interrupted", **thought_fields(partial))
        session.mark_failed("interrupted before the reply began")
        raise Interrupted("interrupted before the reply began") from None
    settle(session.keep_reply(partial, pre, step.body, writer, messages)[0])
    if writer is None:  # --no-log: in this session's memory only, never on disk
        raise Interrupted("interrupted; the partial reply was not saved (--no-log)") from None
    raise Interrupted("interrupted; the partial reply was kept") from None


def failed(
    session: Session,
    step: Step,
    e: GptcliError,
    pre: Preflight,
    messages: list[dict[str, Any]],
    settle: spend.Settle,
) -> GptcliError:
    """The request failed: a partial answer is kept, else the question leaves the history (``failed_turn``).

    Returns the error to raise. It is not raised here: a frame holding it would keep the
    session (and its conversation lock) alive in a reference cycle until the collector runs.
    """
    writer = step.writer
    model, tag = session.profile.model, session.tag
    if isinstance(e, IncompleteReply):
        # Not an answer: kept in the log, marked incomplete, never history.
        partial = session.separate(e.partial)
        if writer is not None:
            if any(partial.texts):
                settle(session.keep_reply(partial, pre, step.body, writer, messages, error=e, history=False)[0])
            else:
                error_note(writer, e, model=model, tag=tag, **thought_fields(partial))
        session.mark_failed(e.message)  # no answer: the question leaves the context (issue 14)
        return e
    kept: dict[str, Any] = {}
    if isinstance(e, StreamBroken):
        partial = session.separate(e.partial)
        if partial.in_reasoning:
            e = StreamBroken(f"{e.message} (cut off while the model was still reasoning)", partial)
        if partial.text:
            settle(session.keep_reply(partial, pre, step.body, writer, messages)[0])
            return e
        kept = thought_fields(partial)  # no answer: no empty reply in the history, the thinking in the note
    if writer is not None:
        error_note(writer, e, model=model, tag=tag, **kept)
    session.mark_failed(e.message)
    return e


def thought_fields(c: Completion) -> dict[str, Any]:
    """The note fields for a reply that ended before its answer began: the thinking, if any."""
    return {"reasoning": c.reasoning, "in_reasoning": True} if c.reasoning else {}


def cut_in_reasoning(c: Completion) -> str:
    why = f" (finish: {c.finish_reason})" if c.finish_reason else ""
    hint = "; raise max_tokens: it counts the thinking too" if c.finish_reason == "length" else ""
    return f"the reply was cut off while the model was still reasoning{why}: there is no answer{hint}"
