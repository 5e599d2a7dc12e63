"""Fan-out: one question to several models (or profiles) at once, each in its own conversation.

``start`` opens one ``conversation.Session`` per target, all carrying one comparison id
in their meta (``"comparison"``, which ``replay --comparison ID`` lists together).
``run`` sends the question to every target at the same time, a thread each, and
yields an ``Outcome`` per target in the order they finish. Each thread drives the
very ``Session.turn`` a single ``ask`` drives, so every single-ask behaviour holds per
target: the preflight and ``--max-cost`` (checked per target), the shared budget,
retries, the log. A target that fails is an ``Outcome`` with its error; the others
carry on. Nothing here prints.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import store
from .conversation import Session
from .errors import GptcliError
from .models import Notice, Profile, Turn


@dataclass(frozen=True)
class Outcome:
    """One target's answer (``turn``) or failure (``error``), with the warnings its turn gave."""

    index: int  # the target's place in the order given
    label: str
    profile: Profile
    turn: Turn | None = None
    error: BaseException | None = None
    notices: tuple[str, ...] = ()
    conversation_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.turn is not None


@dataclass
class Comparison:
    """The targets of one fan-out: their sessions, labels and shared id."""

    id: str
    sessions: list[Session]
    labels: list[str] = field(default_factory=list)


def labels(profiles: list[Profile]) -> list[str]:
    """What each target is called: its model, or ``profile · model`` when the profiles differ."""
    same_profile = len({p.name for p in profiles}) == 1
    out = [p.model if same_profile else f"{p.name} · {p.model}" for p in profiles]
    if len(set(out)) < len(out):  # two profiles on one model: the profile tells them apart
        out = [f"{p.name} · {p.model}" for p in profiles]
    return out


def start(profiles: list[Profile], *, log: bool = True, **meta: Any) -> Comparison:
    """A Session per profile, all with the same comparison id in their meta."""
    ident = store.new_id()
    sessions = [Session.start(p, log=log, comparison=ident, **meta) for p in profiles]
    return Comparison(ident, sessions, labels(profiles))


def run(
    comparison: Comparison,
    texts: list[str],
    *,
    stream: bool = True,
    max_cost: float | None = None,
    exact: bool = False,
    extra_body: dict[str, Any] | None = None,
    check: Callable[[Turn], Turn] | None = None,
) -> Iterator[Outcome]:
    """Ask every target its text (``texts``, one per target: a profile's template may
    differ) at once; yield each Outcome as it finishes.

    ``check`` (structured output) is applied to each turn in its thread: a reply that
    fails it is that target's failure. The threads are daemons: an interrupted
    comparison does not wait for the replies still coming.
    """
    done: queue.Queue[Outcome] = queue.Queue()
    kwargs = {"stream": stream, "max_cost": max_cost, "exact": exact, "extra_body": extra_body}
    for i, session in enumerate(comparison.sessions):
        label = comparison.labels[i]
        args = (i, label, session, texts[i], kwargs, check, done)
        threading.Thread(target=_one, args=args, name=f"gptcli-compare-{i}", daemon=True).start()
    for _ in comparison.sessions:
        yield done.get()


def _one(
    index: int,
    label: str,
    session: Session,
    text: str,
    kwargs: dict[str, Any],
    check: Callable[[Turn], Turn] | None,
    done: queue.Queue[Outcome],
) -> None:
    notices: list[str] = []
    turn: Turn | None = None
    error: BaseException | None = None
    try:
        gen = session.turn(text, **kwargs)
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                turn = stop.value
                break
            if isinstance(event, Notice) and event.level == "warning":
                notices.append(event.text)
        if check is not None and turn is not None:
            turn = check(turn)
    except GptcliError as e:
        error = e
    except Exception as e:  # a bug: handed to the main thread, which raises it
        error = e
    finally:
        session.close()
    done.put(Outcome(index, label, session.profile, turn, error, tuple(notices), session.conversation_id))


def first_failure(outcomes: list[Outcome]) -> BaseException | None:
    """The error of the first failed target in the order given (its exit code is the command's)."""
    for o in sorted(outcomes, key=lambda o: o.index):
        if o.error is not None:
            return o.error
    return None
