"""Which calls run: the allow list, and asking the user for the rest.

A call runs without asking when its qualified name (``server.tool``) matches a pattern
of the allow list (the profile's ``[tools] allow`` plus every ``--allow``; shell-style
patterns, ``fs.*``, matched case-sensitively; a bare server name, ``fs``, is all its
tools), or when the user answered "always" for that tool earlier in this run. Any other
call is put to the user through ``asker`` (yes / no / always) when there is a terminal;
with no asker (no terminal: a pipe, a script, a batch) it is refused, never silently
run. The asker is the front end's (it prints and reads); this module decides only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .base import ToolSpec
from .config import matches as matches_one

Answer = Literal["yes", "no", "always"]
Asker = Callable[[ToolSpec, Any], Answer]
Decision = Literal["allowed", "yes", "always", "declined", "refused"]


def matches(qualified: str, patterns: Iterable[str]) -> bool:
    return any(matches_one(qualified, p) for p in patterns)


@dataclass
class Policy:
    """The allow list of one run and the user's "always" answers so far."""

    allow: tuple[str, ...] = ()
    asker: Asker | None = None  # None: nobody to ask (no terminal): refuse
    always: set[str] = field(default_factory=set)

    def allowed(self, qualified: str) -> bool:
        return qualified in self.always or matches(qualified, self.allow)

    def decide(self, spec: ToolSpec, arguments: Any) -> Decision:
        """Whether this call may run: ``allowed`` (the list), the user's answer, or ``refused``."""
        if self.allowed(spec.qualified):
            return "allowed"
        if self.asker is None:
            return "refused"
        answer = self.asker(spec, arguments)
        if answer == "always":
            self.always.add(spec.qualified)
            return "always"
        return "yes" if answer == "yes" else "declined"


def parse_answer(text: str) -> Answer | None:
    """A typed answer: y/yes, n/no (or nothing), a/always, any case; None for anything else."""
    word = text.strip().lower()
    if word in ("y", "yes"):
        return "yes"
    if word in ("n", "no", ""):  # Enter alone: no (the safe answer)
        return "no"
    if word in ("a", "always"):
        return "always"
    return None
