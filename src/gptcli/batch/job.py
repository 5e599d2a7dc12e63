"""``Batch``: one batch run (a profile, an input and the options) and what every step
shares: the input, the resume state, each item's profile, messages, model info and
token count, and the events sent to the caller. The steps themselves live in
``plan`` (preflight), ``runner`` (local) and ``openai_batch`` (the Batch API)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from .. import budget, prices, tokens
from ..models import Completion, Notice, Profile
from . import fanout, openai_batch, output, plan, runner
from .input import Item, Source
from .output import Existing, Summary
from .plan import Options, Plan

Event = Any  # Progress | Notice
EventSink = Callable[[Event], None]


class Batch:
    """One batch: a profile, an input (a path, or "-" for stdin) and the options."""

    def __init__(self, profile: Profile, input_ref: str, options: Options) -> None:
        options.check()
        self.profile = profile
        self.opts = options
        self.input_ref = input_ref
        self.source: Any = Source(input_ref, options.format, options.column, options.template, options.attach_column)
        if options.models or options.sample is not None:
            self.source = fanout.Expanded(self.source, options.models)
        self._checked: set[tuple[str, frozenset[str]]] = set()  # (model, kinds) a capability check passed
        self.existing = Existing()
        self.infos: dict[str, prices.ModelInfo] = {}
        self._counters: dict[tuple[str, str | None], budget.Counter] = {}
        self.approximate = False  # an item's tokens were estimated (no encoding)
        self.started = time.monotonic()
        self.emit: EventSink = lambda event: None
        self._lock: Any = None
        self._profiles: dict[str, Profile] = {}
        self._notes: set[str] = set()
        self.cap: int | None = None  # the output limit --max-cost imposed on every item
        self.tools: Any = None  # tooling.BatchTools: the items' tools (started once), None: no tools

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def lock(self) -> None:
        """Hold the output file (and so its resume state) for this run: a second run at once
        would rewrite it under the first, or pay for items twice (issue 17 #4)."""
        from .. import filelock
        from ..errors import ConfigError

        path = self.opts.output
        if path is None or self._lock is not None:
            return
        try:
            self._lock = filelock.acquire("batch", path)
        except filelock.Busy as busy:
            who = f"another gptcli (pid {busy.pid})" if busy.pid else "another gptcli"
            raise ConfigError(
                f"{path} is being written by {who}", hint="wait for it to finish, or use another -o"
            ) from None

    # -- the steps ------------------------------------------------------------------------------

    def plan(self, *, exact: bool = False, on_event: EventSink | None = None, check_budget: bool = True) -> Plan:
        """Read the input (and the output with --resume); count, price and check it all.

        Raises UsageError (--strict and a bad line, an output that exists without
        --resume, a resumed output written for another input) and BudgetError
        (--max-cost), all before anything is sent.
        """
        if on_event is not None:
            self.emit = on_event
        self.opts.check_output(self.input_ref)
        if self.opts.resume and self.opts.output is not None:
            self.existing = output.read_existing(self.opts.output)
        found = plan.scan(self, exact=exact, report=True)
        limit = self.opts.max_cost
        if limit is not None and not exact and (found.cost_max is None or found.cost_max > limit):
            found = plan.scan(self, exact=True, report=False)  # the bound was not enough: count
        over = limit is not None and (found.cost_max is None or found.cost_max > limit)
        if over and limit is not None and self.profile.max_tokens is None and found.cost_min is not None:
            found = self._capped(found, limit)
        if check_budget:
            self.check_budget(found)
        return found

    def _capped(self, found: Plan, limit: float) -> Plan:
        """--max-cost without --max-tokens: the largest output limit per item that keeps the
        whole batch within ``limit`` (the cost grows linearly with it: one scan at a limit
        of 1 token gives the slope), applied to every item; BudgetError when it is below
        ``budget.MIN_OUTPUT``."""
        from ..errors import BudgetError
        from ..models import usd

        original = self.profile
        self._set_profile(replace(original, max_tokens=1))
        one = plan.scan(self, exact=True, report=False)
        assert found.cost_min is not None
        slope = (one.cost_max or 0.0) - found.cost_min
        cap = int((limit - found.cost_min) / slope) if slope > 0 else budget.MIN_OUTPUT
        if cap < budget.MIN_OUTPUT:
            self._set_profile(original)
            need = found.cost_min + slope * budget.MIN_OUTPUT
            raise BudgetError(
                f"this batch's prompts ({found.to_send:,} items, {found.prompt_tokens:,} tokens) cost "
                f"{usd(found.cost_min)}, leaving room for only {max(cap, 0):,} output tokens per item "
                f"(at least {budget.MIN_OUTPUT} needed) within --max-cost {usd(limit)}",
                hint=f"split the input, or raise --max-cost to {usd(need)}",
            )
        self._set_profile(replace(original, max_tokens=cap))
        self.cap = cap
        self.note(f"output capped at {cap:,} tokens per item by --max-cost")
        return plan.scan(self, exact=True, report=False)

    def _set_profile(self, profile: Profile) -> None:
        self.profile = profile
        self._profiles.clear()

    def check_budget(self, found: Plan) -> None:
        """BudgetError (exit 7) if --max-cost is set and the plan could cost more."""
        plan.check_budget(found, self.opts.max_cost)

    def run(self, found: Plan, on_event: EventSink, out: IO[str] | None = None) -> Summary:
        """Send every item still to do from here (see ``runner.run``)."""
        self.emit = on_event
        return runner.run(self, found, out)

    def submit(self, found: Plan, on_event: EventSink) -> list[str]:
        """Submit the items to OpenAI's Batch API; the batch ids."""
        self.emit = on_event
        return openai_batch.submit(self)

    def collect(self, ids: list[str], on_event: EventSink, out: IO[str] | None = None) -> Summary:
        """Wait for Batch API batches and write their records (see ``openai_batch.collect``)."""
        self.emit = on_event
        return openai_batch.collect(self, ids, out)

    # -- shared by the steps ----------------------------------------------------------------------

    def items(self) -> Iterator[Item]:
        """The items still to do (bad lines and --resume's done items left out)."""
        done = self.existing.done
        for entry in self.source.entries():
            if isinstance(entry, Item) and output.item_key(entry) not in done:
                yield entry

    def profile_for(self, item: Item) -> Profile:
        """The run's profile with the item's own settings over it (cached per distinct set)."""
        if not item.overrides:
            return self.profile
        cache_key = json.dumps(item.overrides, sort_keys=True, ensure_ascii=False)
        prof = self._profiles.get(cache_key)
        if prof is None:
            changes = dict(item.overrides)
            if "params" in changes:
                changes["params"] = {**self.profile.params, **changes["params"]}
            prof = replace(self.profile, **changes)
            if len(self._profiles) < 4096:
                self._profiles[cache_key] = prof
        return prof

    def messages(self, item: Item, prof: Profile) -> list[dict[str, Any]]:
        if item.messages is not None:
            if prof.system and not any(m.get("role") in ("system", "developer") for m in item.messages):
                return [{"role": "system", "content": prof.system}, *item.messages]
            return item.messages
        user = {"role": "user", "content": self._content(item, prof)}
        return [{"role": "system", "content": prof.system}, user] if prof.system else [user]

    def _content(self, item: Item, prof: Profile) -> Any:
        """The prompt, with the item's attachments as content parts (README "Attachments")."""
        if not item.attach:
            return item.prompt
        from ..attachments import capable, detect, parts

        base = Path(self.input_ref).resolve().parent if self.input_ref != "-" else Path.cwd()
        from ..errors import UsageError

        try:
            atts = [detect.load(spec, base=base, detail=self.opts.detail) for spec in item.attach]
        except UsageError as e:
            raise UsageError(f"{self.source.name}:{item.line}: {e.message}", hint=e.hint) from None
        kinds = frozenset(a.kind for a in atts)
        if (prof.model, kinds) not in self._checked:
            capable.check(prof, kinds)  # ConfigError (3) while planning: before anything is sent
            self._checked.add((prof.model, kinds))
        return parts.content(item.prompt or "", atts)

    def info(self, prof: Profile) -> prices.ModelInfo:
        """Price and window of the item's model (``prices.info_for``: the profile's own
        ``price`` and ``context_window`` describe the profile's model only)."""
        found = self.infos.get(prof.model)
        if found is None:
            found = self.infos[prof.model] = prices.info_for(self.profile, prof.model)
        return found

    def counter(self, prof: Profile) -> budget.Counter:
        """The item's model's ``budget.Counter``: exact, else an estimate (said once per run)."""
        key = (prof.model, prof.encoding)
        found = self._counters.get(key)
        if found is None:
            found = self._counters[key] = budget.Counter.for_profile(prof, self._approximate)
        return found

    def _approximate(self, text: str) -> None:
        self.approximate = True
        self.note(text, "warning")

    def count(self, messages: list[dict[str, Any]], prof: Profile) -> int:
        """Exact prompt tokens; an estimate if no encoding can be loaded."""
        return self.counter(prof).tokens(messages)

    def note(self, text: str, level: str = "info") -> None:
        """A notice shown once per run, however many items it concerns."""
        if text not in self._notes:
            self._notes.add(text)
            self.emit(Notice(text, level))

    def success(
        self, item: Item, prof: Profile, c: Completion, attempts: int, *, discount: float = 1.0, latency: bool = True
    ) -> dict[str, Any]:
        """The record of an answered item, priced at its model's price (times ``discount``)."""
        c = _separate(c, prof)
        cost = None
        usage = c.usage
        if usage is not None:
            price = self.info(prof).price_for(usage.prompt_tokens)
            cost = prices.cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            if cost is not None:
                cost = round(cost * discount, 10)
        rec = output.success(
            item,
            c,
            model=prof.model,
            cost=cost,
            attempts=attempts,
            latency=latency,
            no_input=self.opts.no_input,
            extract=self._extract(c),
        )
        if self.opts.tag:
            rec["tag"] = self.opts.tag
        return rec

    def _extract(self, c: Completion) -> list[str] | None:
        """Each choice's code for the ``extract`` field (``-x``); a note once when a reply had none."""
        if self.opts.extract is None:
            return None
        from ..extract import extract

        out = []
        for text in c.texts or [c.text or ""]:
            got = extract(text or "", self.opts.extract)
            if got.blocks == 0:
                self.note("some replies have no code block: their 'extract' is the whole reply", "warning")
            out.append(got.text)
        return out

    def failure(
        self, item: Item, prof: Profile, kind: str, message: str, attempts: int, **error: Any
    ) -> dict[str, Any]:
        """The record of a failed item; ``error``: its ``status`` and ``code``, if any."""
        return output.failure(
            item, model=prof.model, kind=kind, message=message, attempts=attempts, no_input=self.opts.no_input, **error
        )


def _separate(c: Completion, prof: Profile) -> Completion:
    """The reply's thinking apart from its answer; reasoning tokens estimated (by size) when not reported."""
    from .. import reasoning

    c = reasoning.separate(c, reasoning.profile_tags(prof.parse_reasoning_tags, prof.reasoning_tags))
    return reasoning.with_reasoning_tokens(c, lambda t: tokens.approx_tokens([{"role": "assistant", "content": t}]))


def prefetch() -> None:
    """Import the openai backend in a thread while the profile is resolved and the input
    read and priced: ``import openai`` takes 0.3-0.5 s, partly waiting on file reads, so
    the two overlap (measured: 0.37 s instead of 0.52 s for a plan plus the import). Not
    for --dry-run, which never imports openai."""
    import threading

    from .. import client

    def load() -> None:
        with contextlib.suppress(Exception):
            client.preload()

    threading.Thread(target=load, name="gptcli-prefetch", daemon=True).start()
