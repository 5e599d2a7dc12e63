"""``replay --check``: regression checks of saved conversations against a profile.

Each case is a saved conversation (an id, a file, or a glob of files). Its user turns are
re-run (``replay.rerun``) with the profile and flags given, and every new answer is held
to the expectations (``--expect KIND=VALUE``):

* ``schema=FILE``: the answer is JSON valid against the JSON Schema in FILE;
* ``regex=PATTERN``: ``re.search`` finds PATTERN in the answer;
* ``contains=TEXT``: the answer contains TEXT;
* ``similar=RATIO``: ``difflib.SequenceMatcher`` ratio against the original answer >= RATIO
  (turns whose original has no answer are skipped);
* ``max-cost=USD``: the case's new cost in all is at most USD (unknown cost fails);
* ``max-latency=S``: every new answer took at most S seconds.

A case whose re-run fails (a server error, a refused budget) fails with that error. The
results are values (``CaseResult``); ``cli`` prints them, ``render.checks`` writes JUnit.
Nothing here prints.
"""

from __future__ import annotations

import difflib
import glob
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GptcliError, UsageError

KINDS = ("schema", "regex", "contains", "similar", "max-cost", "max-latency")


@dataclass(frozen=True)
class Expectation:
    kind: str
    value: str
    parsed: Any = None

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


def parse_expectations(items: list[str]) -> list[Expectation]:
    """``--expect`` values; a bad one is a usage error naming it."""
    out: list[Expectation] = []
    for item in items:
        kind, sep, value = item.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS or value == "":
            raise UsageError(f"--expect {item!r}: use KIND=VALUE with KIND one of {', '.join(KINDS)}")
        out.append(Expectation(kind, value, _parse(kind, value, item)))
    return out


def _parse(kind: str, value: str, item: str) -> Any:
    if kind == "schema":
        from ..structured import from_schema_file

        return from_schema_file(Path(value))
    if kind == "regex":
        try:
            return re.compile(value)
        except re.error as e:
            raise UsageError(f"--expect {item!r}: not a regular expression ({e})") from None
    if kind in ("similar", "max-cost", "max-latency"):
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--expect {item!r}: {value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")) or number < 0:
            raise UsageError(f"--expect {item!r}: must be a finite number of 0 or more")
        if kind == "similar" and number > 1:
            raise UsageError(f"--expect {item!r}: a similarity is between 0 and 1")
        return number
    return value


def expand(refs: list[str]) -> list[str]:
    """Ids and paths as given; a ref with glob characters is expanded (sorted), and must match."""
    out: list[str] = []
    for ref in refs:
        if any(ch in ref for ch in "*?["):
            found = sorted(glob.glob(ref, recursive=True))
            if not found:
                raise UsageError(f"--check: no file matches {ref!r}")
            out.extend(found)
        else:
            out.append(ref)
    return out


@dataclass
class CaseResult:
    """One checked conversation: what failed (empty: it passed), and what it cost."""

    name: str
    conversation: str | None = None
    turns: int = 0
    cost: float | None = 0.0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    error: str | None = None  # the re-run itself failed
    new_conversation: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.name,
            "conversation": self.conversation,
            "passed": self.passed,
            "turns": self.turns,
            "cost": self.cost,
            "seconds": round(self.seconds, 3),
            "failures": list(self.failures),
            "error": self.error,
            "new_conversation": self.new_conversation,
        }


def judge(expectations: list[Expectation], pairs: list[tuple[Any, Any]], cost: float | None) -> list[str]:
    """What the new answers (``pairs`` of OldTurn, NewTurn) break, one line each."""
    failures: list[str] = []
    for i, (old, new) in enumerate(pairs, 1):
        for e in expectations:
            problem = _judge_turn(e, old, new)
            if problem:
                failures.append(f"turn {i}: {problem}")
    for e in expectations:
        if e.kind == "max-cost":
            if cost is None:
                failures.append(f"{e}: the cost is unknown (no price for the model)")
            elif cost > e.parsed:
                failures.append(f"{e}: cost ${cost:.6f}")
    return failures


def _judge_turn(e: Expectation, old: Any, new: Any) -> str | None:
    text: str = new.text or ""
    if e.kind == "schema":
        from ..errors import InvalidOutputError
        from ..structured import check

        try:
            check(text, e.parsed, finish_reason=new.finish_reason)
        except InvalidOutputError as err:
            return f"{e}: {err.message}"
    elif e.kind == "regex" and not e.parsed.search(text):
        return f"{e}: no match"
    elif e.kind == "contains" and e.value not in text:
        return f"{e}: not found"
    elif e.kind == "similar" and old.text is not None:
        ratio = difflib.SequenceMatcher(None, old.text, text, autojunk=False).ratio()
        if ratio < e.parsed:
            return f"{e}: {ratio:.2f}"
    elif e.kind == "max-latency" and new.latency > e.parsed:
        return f"{e}: {new.latency:.2f} s"
    return None


def run_checks(
    refs: list[str],
    expectations: list[Expectation],
    plan_case: Callable[[Any], Any],
    run_case: Callable[[Any], Any],
) -> Iterator[CaseResult]:
    """Check each case in turn: load, plan (``plan_case(conv)``), re-run (``run_case(plan)`` returns
    a RerunResult) and judge. One failing case never stops the others."""
    from . import load

    for ref in expand(refs):
        started = time.monotonic()
        result = CaseResult(name=ref)
        try:
            conv = load(ref)
            result.conversation = conv.id
            plan = plan_case(conv)
            rerun = run_case(plan)
            result.new_conversation = rerun.conversation_id
            result.turns = len(rerun.pairs)
            costs = [new.cost for _, new in rerun.pairs]
            result.cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
            result.failures = judge(expectations, rerun.pairs, result.cost)
        except GptcliError as e:
            result.error = str(e)
        result.seconds = time.monotonic() - started
        yield result
