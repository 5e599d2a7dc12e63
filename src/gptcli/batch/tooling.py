"""Tools in a local batch (issue 20: "batch items can use tools with an allow list only").

Each item runs the tool loop inside the runner's own request path (``runner._Runner._send``):
a reply with tool calls gets its calls decided and run, the assistant message and the tool
messages are appended to the item's messages, and the next step is one more request
through the same AsyncChat, limiter, retries and shared budget as any item. That keeps
the batch's rate limits and retries for every step, where a ``Session`` per item in a
thread would bypass them.

The policy never asks (no asker): a call not on the allow list is refused, the model reads
``calls.REFUSED`` (what ask says without a terminal), and ``refused`` counts it per tool for
one warning each at the end. Calls run in worker threads (``asyncio.to_thread``): the
toolbox is synchronous; ``McpToolbox`` runs every server on its own event loop thread and
takes calls from any thread (``run_coroutine_threadsafe``; an MCP session multiplexes
concurrent requests by id), and a per-server lock here keeps at most one call in flight
per server, since a stdio server is one process reading one pipe.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..models import Completion
from ..tools import calls as c

if TYPE_CHECKING:
    from ..models import Profile
    from ..tools.loop import ToolRun
    from .job import Batch

STEPS_KIND = "tool_steps"  # a record's error.kind when --max-steps stopped its loop (ask's exit 12)


@dataclass
class Steps:
    """One item's loop so far: its steps' completions and its calls."""

    completions: list[Completion] = field(default_factory=list)
    records: list[c.CallRecord] = field(default_factory=list)

    def final(self, last: Completion) -> Completion:
        """The last reply with every step's usage and latency summed."""
        from ..tools.loop import _sum_usage

        done = [*self.completions, last]
        usage = _sum_usage([x.usage for x in done])
        return replace(last, usage=usage, latency=sum(x.latency for x in done))

    def spent(self, job: Batch, prof: Profile) -> dict[str, Any]:
        """The usage and cost of the steps answered so far (a failed item's record: the money is spent)."""
        from .. import prices
        from ..tools.loop import _sum_usage

        usage = _sum_usage([x.usage for x in self.completions]) if self.completions else None
        if usage is None:
            return {}
        price = job.info(prof).price_for(usage.prompt_tokens)
        cost = prices.cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        return {"usage": usage.to_dict(), "cost": cost}

    def fields(self) -> dict[str, Any]:
        return {"tool_calls": [r.to_dict() for r in self.records], "steps": len(self.completions) + 1}


@dataclass
class BatchTools:
    """The batch's tools: one ``ToolRun`` (the toolbox started once), shared by every item."""

    run: ToolRun
    refused: Counter[str] = field(default_factory=Counter)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _tokens: dict[tuple[str, str | None], int] = field(default_factory=dict)

    @property
    def max_steps(self) -> int:
        return self.run.max_steps

    def definitions(self) -> list[dict[str, Any]]:
        return self.run.definitions()

    def tokens(self, prof: Profile) -> int:
        """The prompt tokens the definitions add to each request of ``prof``'s model."""
        key = (prof.model, prof.encoding)
        if key not in self._tokens:
            from ..tokens import counting, encodings

            defs = self.definitions()
            try:
                n = counting.count_messages([], prof.model, prof.encoding, defs)
                n -= counting.count_messages([], prof.model, prof.encoding)
            except encodings.EncodingUnavailable:
                n = counting.approx_tokens([], defs) - counting.approx_tokens([])
            self._tokens[key] = n
        return self._tokens[key]

    async def answer(self, steps: Steps, reply: Completion, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run the reply's calls; the messages of the next step (the history with the results)."""
        records = [await asyncio.to_thread(self._one, c.ToolCall.from_wire(w)) for w in reply.tool_calls]
        steps.completions.append(reply)
        steps.records += records
        return [*msgs, c.assistant_message(reply.text, reply.tool_calls), *(r.message() for r in records)]

    def stopped(self, steps: Steps, reply: Completion) -> str:
        """The calls of a last step answered "not run"; the item's error message."""
        from ..tools.loop import _not_run

        why = f"the tool loop stopped at --max-steps {self.max_steps}"
        wanted = [_not_run(self.run, c.ToolCall.from_wire(w), why) for w in reply.tool_calls]
        steps.completions.append(reply)
        steps.records += wanted
        return f"{why}: the model still called " + ", ".join(sorted({r.tool for r in wanted}))

    def _one(self, call: c.ToolCall) -> c.CallRecord:
        from ..tools.loop import run_call

        spec = self.run.lookup(call.name)
        lock = self._locks.setdefault(spec.server, threading.Lock()) if spec is not None else threading.Lock()
        with lock:
            record = run_call(self.run, call)
        if record.status == "refused":
            self.refused[record.tool] += 1
        return record

    def warnings(self) -> list[str]:
        """One line per refused tool (unsanitised names: the caller makes them printable)."""
        return [
            f"tool {tool}: refused {n:,} time{'s' if n != 1 else ''} (not on the allow list; batch never asks)"
            f" - allow it with --allow {tool}"
            for tool, n in sorted(self.refused.items())
        ]

    def close(self) -> None:
        self.run.toolbox.close()
