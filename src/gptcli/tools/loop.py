"""The tool loop: send the tools, run the model's calls, send the results, until an answer.

One turn with tools is several requests ("steps"). Each step is one request of the
session (``Session.turn``, ``continuing`` after the first) with the tool definitions in the body; its preflight
counts the definitions' tokens (the cookbook's formula, ``tokens.counting``) and checks
``--max-cost`` against what the loop has not spent yet, so the budget covers the whole
loop. A reply with tool calls is kept (the assistant message carries them), each call is
decided (``permission.Policy``), run through the ``Toolbox`` and answered with a tool
message, in the history and the log as it happens; then the next step goes out. It ends
with a reply that calls nothing (the answer), at ``max_steps`` requests
(``ToolStepsError``, exit 12: the calls of the last reply are answered "not run" so the
history stays valid), at the budget (``BudgetError``, exit 7) or at Ctrl-C during a call
(``Interrupted``: the calls so far are kept). Never prints: it yields ``ToolRequested``
(before a call is decided: a front end stops its spinner) and ``ToolFinished`` events.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import BudgetError, GptcliError, Interrupted, ToolStepsError
from ..models import Completion, Turn, Usage
from . import calls as c
from .base import Toolbox, ToolSpec
from .config import DEFAULT_TIMEOUT
from .permission import Policy

if TYPE_CHECKING:
    from ..conversation import Event, Session

DEFAULT_MAX_STEPS = 10
CALL_TIMEOUT = DEFAULT_TIMEOUT  # seconds a call may take (a server's own ``timeout`` wins)
RESULT_LIMIT = 100_000  # characters of a result sent to the model; the rest is cut, and the model told


@dataclass(frozen=True)
class ToolRequested:
    """The model called ``tool``: it is decided (perhaps asked) and run next."""

    tool: str
    arguments: Any


@dataclass
class ToolRun:
    """What a turn with tools runs with."""

    toolbox: Toolbox
    specs: tuple[ToolSpec, ...]
    policy: Policy = field(default_factory=Policy)
    max_steps: int = DEFAULT_MAX_STEPS
    timeout: float = CALL_TIMEOUT
    result_limit: int = RESULT_LIMIT
    logged_in: str | None = None  # the conversation whose log has the ``tools`` note

    def definitions(self) -> list[dict[str, Any]]:
        return [s.definition() for s in self.specs]

    def lookup(self, wire_name: str) -> ToolSpec | None:
        for s in self.specs:
            if s.wire_name == wire_name or s.qualified == wire_name:
                return s
        return None


def tool_tokens(session: Session, definitions: list[dict[str, Any]]) -> int:
    """The prompt tokens the definitions add to a request (counted, else estimated)."""
    from ..tokens import counting, encodings

    if not definitions:
        return 0
    model, enc = session.profile.model, session.profile.encoding
    try:
        return counting.count_messages([], model, enc, definitions) - counting.count_messages([], model, enc)
    except encodings.EncodingUnavailable:
        return counting.approx_tokens([], definitions) - counting.approx_tokens([])


def run_turn(
    session: Session,
    text: str | None,
    run: ToolRun,
    *,
    stream: bool = True,
    max_cost: float | None = None,
    exact: bool = False,
    extra_body: dict[str, Any] | None = None,
    attachments: Any = None,
) -> Generator[Event | ToolRequested | c.ToolFinished, None, Turn]:
    """One user message answered through as many steps as the model's calls need
    (``attachments`` go with the question, in the first step)."""
    definitions = run.definitions()
    extra = tool_tokens(session, definitions)
    offered = [_spec_record(s) for s in run.specs]
    records: list[c.CallRecord] = []
    turns: list[Turn] = []
    spent = 0.0
    for step in range(1, run.max_steps + 1):
        left = None if max_cost is None else max_cost - spent
        try:
            # The first step sends the question (None: retry's meaning); the next ones the
            # history as it stands, ending with the tool results.
            turn = yield from session.turn(
                text if step == 1 else None,
                stream=stream,
                max_cost=left,
                exact=exact,
                extra_body={**(extra_body or {}), "tools": definitions},
                extra_prompt_tokens=extra,
                continuing=step > 1,
                attachments=attachments if step == 1 else None,
            )
        except BudgetError as e:
            if step == 1:
                raise
            raise BudgetError(
                f"the tool loop stopped before step {step} ({len(records)} calls made, {_usd(spent)} spent): "
                f"{e.message}",
                hint=e.hint or "raise --max-cost",
            ) from None
        _log_tools(session, run, offered)  # once the log exists (after the first request)
        turns.append(turn)
        spent += turn.cost or 0.0
        wanted = turn.completion.tool_calls
        if not wanted:
            return _final(turns, records)
        if step == run.max_steps:
            for call in wanted:
                why = f"the tool loop stopped at --max-steps {run.max_steps}"
                records.append(_not_run(run, c.ToolCall.from_wire(call), why))
                session.add_tool_result(records[-1].message(), records[-1].log_fields())
            error = ToolStepsError(
                f"the tool loop stopped at --max-steps {run.max_steps}: the model still called "
                + ", ".join(sorted({r.tool for r in records[-len(wanted) :]}))
                + (
                    f" (the calls so far are in conversation {session.conversation_id})"
                    if session.conversation_id
                    else ""
                ),
                hint="raise --max-steps",
            )
            error.turn = _final(turns, records)
            raise error
        yield from _run_calls(session, run, wanted, records)
    raise AssertionError("unreachable: max_steps >= 1")


def _run_calls(
    session: Session, run: ToolRun, wanted: tuple[dict[str, Any], ...], records: list[c.CallRecord]
) -> Generator[ToolRequested | c.ToolFinished, None, None]:
    """Each call decided, run and answered in turn; a Ctrl-C answers the rest "not run"."""
    pending = [c.ToolCall.from_wire(w) for w in wanted]
    for k, call in enumerate(pending):
        record: c.CallRecord | None = None
        try:
            record = yield from _one(run, call)
            records.append(record)
            session.add_tool_result(record.message(), record.log_fields())
            yield c.ToolFinished(record)
        except KeyboardInterrupt:  # in the call, the question, or the front end while it printed
            rest = [_not_run(run, p, "the user interrupted the loop") for p in pending[k + 1 :]]
            done = rest if record is not None else [_interrupted(run, call), *rest]
            for r in done:
                records.append(r)
                session.add_tool_result(r.message(), r.log_fields())
            spec = run.lookup(call.name)
            name = spec.qualified if spec else call.name
            raise Interrupted(f"interrupted during the call of {name}; the calls so far are kept") from None


def run_call(run: ToolRun, call: c.ToolCall) -> c.CallRecord:
    """One call decided and run, with nobody to tell (batch: the policy never asks)."""
    steps = _one(run, call)
    try:
        while True:
            next(steps)
    except StopIteration as done:
        record: c.CallRecord = done.value
        return record


def _one(run: ToolRun, call: c.ToolCall) -> Generator[ToolRequested, None, c.CallRecord]:
    spec = run.lookup(call.name)
    arguments, bad = call.parsed()
    shown: Any = arguments if arguments is not None else call.arguments
    if spec is None:
        text = c.UNKNOWN.format(name=call.name)
        return c.CallRecord(call.id, call.name, None, shown, text, is_error=True, status="error")
    yield ToolRequested(spec.qualified, shown)
    if arguments is None:
        text = c.BAD_ARGUMENTS.format(why=bad, tool=spec.wire_name)
        return c.CallRecord(call.id, spec.qualified, spec.server, shown, text, is_error=True, status="error")
    decision = run.policy.decide(spec, arguments)
    if decision in ("refused", "declined"):
        text = (c.REFUSED if decision == "refused" else c.DECLINED).format(tool=spec.qualified)
        return c.CallRecord(call.id, spec.qualified, spec.server, arguments, text, is_error=True, status=decision)
    start = time.monotonic()
    try:
        result = run.toolbox.call(spec, arguments, timeout=run.timeout)
    except GptcliError as e:  # the server failed: the model is told, the loop goes on
        text = f"error: {e.message}"
        took = time.monotonic() - start
        return c.CallRecord(call.id, spec.qualified, spec.server, arguments, text, True, took, status="error")
    text, truncated = result.text, result.truncated
    if len(text) > run.result_limit:
        cut = len(text)
        text = text[: run.result_limit] + f"\n[truncated: the result was {cut:,} characters; the first "
        text += f"{run.result_limit:,} are shown]"
        truncated = True
    took = result.duration or (time.monotonic() - start)
    return c.CallRecord(
        call.id, spec.qualified, spec.server, arguments, text, result.is_error, took, "ok", truncated=truncated
    )


def _not_run(run: ToolRun, call: c.ToolCall, why: str) -> c.CallRecord:
    spec = run.lookup(call.name)
    arguments, _ = call.parsed()
    return c.CallRecord(
        call.id,
        spec.qualified if spec else call.name,
        spec.server if spec else None,
        arguments if arguments is not None else call.arguments,
        c.NOT_RUN.format(why=why),
        is_error=True,
        status="not_run",
    )


def _interrupted(run: ToolRun, call: c.ToolCall) -> c.CallRecord:
    return replace(_not_run(run, call, "the user interrupted the call"), status="interrupted")


def _final(turns: list[Turn], records: list[c.CallRecord]) -> Turn:
    """The last step's turn with the loop's calls, its summed usage, cost and time."""
    last = turns[-1]
    costs = [t.cost for t in turns]
    cost = None if any(x is None for x in costs) else sum(x for x in costs if x is not None)
    completion: Completion = replace(
        last.completion,
        usage=_sum_usage([t.completion.usage for t in turns]),
        latency=sum(t.completion.latency for t in turns),
    )
    notices = tuple(n for t in turns for n in t.notices)
    return replace(
        last,
        completion=completion,
        cost=cost,
        notices=notices,
        cost_estimated=any(t.cost_estimated for t in turns),
        tool_calls=tuple(r.to_dict() for r in records),
        steps=len(turns),
    )


def _sum_usage(usages: list[Usage | None]) -> Usage | None:
    if any(u is None for u in usages):
        return usages[-1] if len(usages) == 1 else None
    total = Usage()
    for u in usages:
        assert u is not None
        total = Usage(
            total.prompt_tokens + u.prompt_tokens,
            total.completion_tokens + u.completion_tokens,
            total.total_tokens + u.total_tokens,
            total.cached_tokens + u.cached_tokens,
            total.reasoning_tokens + u.reasoning_tokens,
            total.reasoning_estimated or u.reasoning_estimated,
        )
    return total


def _log_tools(session: Session, run: ToolRun, offered: list[dict[str, Any]]) -> None:
    """A ``tools`` note with the definitions offered (what ``--reuse-tool-results`` offers
    again), once per conversation (chat's /new starts another)."""
    if session.conversation_id is not None and run.logged_in != session.conversation_id:
        names = ", ".join(f"{t['server']}.{t['name']}" for t in offered)
        session.note(f"tools offered: {names}", kind="tools", tools=offered)
        run.logged_in = session.conversation_id


def _spec_record(spec: ToolSpec) -> dict[str, Any]:
    return {
        "server": spec.server,
        "name": spec.name,
        "description": spec.description,
        "input_schema": spec.input_schema,
    }


def _usd(x: float) -> str:
    from ..models import usd

    return usd(x)
