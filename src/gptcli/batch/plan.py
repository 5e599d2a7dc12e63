"""The preflight of a whole batch: the options value, their checks, and the ``Plan``
(items, prompt tokens, cost range per model) made by reading the input once, streamed,
before anything is sent.

Token counts take the cheap path first (UTF-8 bytes bound the tokens, no tokenizer);
exact counts only for ``--dry-run`` or when the bound cannot prove the batch is within
``--max-cost``. ``--strict``, ``--max-cost`` and a resumed output written for another
input are refused here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import budget, client, prices
from ..errors import UsageError
from ..models import Notice, Profile
from .input import Invalid, Item, Note
from .output import input_hash, item_key, short_hash

if TYPE_CHECKING:
    from .job import Batch

VIA = ("local", "openai-batch")
DEFAULT_CONCURRENCY = 8
DEFAULT_RETRIES = 4
# OpenAI bills Batch API requests at half the price of the same synchronous requests.
BATCH_API_DISCOUNT = 0.5
# How many bad input lines are reported one by one before only counting them.
MAX_REPORTED_LINES = 20


@dataclass(frozen=True)
class Options:
    """Everything about a batch run except the profile (flags parsed by the CLI)."""

    output: Path | None = None  # None: records go to the ``out`` stream (stdout)
    format: str | None = None
    column: str | None = None
    attach_column: str | None = None  # a column (or JSONL key) of attachments: paths or URLs
    detail: str | None = None  # --detail for the attached images
    template: str | None = None
    extract: str | None = None  # "first" / "all": each record gets an "extract" field (gptcli.extract)
    strict: bool = False
    no_input: bool = False
    ordered: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rpm: float | None = None
    tpm: float | None = None
    retries: int = DEFAULT_RETRIES
    resume: bool = False
    overwrite: bool = False
    max_cost: float | None = None
    via: str = "local"
    tag: str | None = None  # --tag: stored in every record
    models: tuple[str, ...] = ()  # --models: every item on each of these models
    sample: int | None = None  # --sample N: only N items (chosen evenly), on each model
    seed: int | None = None  # which N (--seed)

    def check(self) -> None:
        """UsageError for flags that contradict each other or are out of range."""
        if self.via not in VIA:
            raise UsageError(f"--via must be one of {', '.join(VIA)}, not {self.via!r}")
        if not 1 <= self.concurrency <= 1024:
            raise UsageError("--concurrency must be between 1 and 1024")
        for name, value in (("--rpm", self.rpm), ("--tpm", self.tpm)):
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be more than 0")
        if self.retries < 0:
            raise UsageError("--retries must be 0 or more")
        if self.resume and self.output is None:
            raise UsageError("--resume needs the output file: -o FILE")
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite contradict each other")
        if self.models and self.via != "local":
            raise UsageError("--models runs locally", hint="drop --via openai-batch, or run one model per batch")
        if len(set(self.models)) < len(self.models):
            raise UsageError("--models names a model twice")
        if self.sample is not None and (self.sample < 1 or self.resume or self.via != "local"):
            raise UsageError("--sample takes N of 1 or more, locally, without --resume")

    def check_output(self, input_ref: str) -> None:
        """UsageError for an -o that cannot be written, is the input, or exists without --resume."""
        out = self.output
        if out is None:
            return
        if out.is_dir():
            raise UsageError(f"-o {out} is a directory")
        if not out.parent.is_dir():
            raise UsageError(f"-o {out}: no such directory {out.parent}")
        if input_ref != "-" and out.exists() and out.samefile(input_ref):
            raise UsageError("-o names the input file; write the results somewhere else")
        if out.exists() and out.stat().st_size > 0 and not (self.resume or self.overwrite):
            raise UsageError(
                f"{out} already exists",
                hint="add --resume to continue it, --overwrite to start over, or pick another -o",
            )


@dataclass(frozen=True)
class ModelPlan:
    model: str
    items: int
    prompt_tokens: int
    max_output_tokens: int | None  # None: no limit (no max_tokens and no known window)
    cost_min: float | None
    cost_max: float | None
    price_source: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "items": self.items,
            "prompt_tokens": self.prompt_tokens,
            "max_output_tokens": self.max_output_tokens,
            "cost_min": self.cost_min,
            "cost_max": self.cost_max,
            "price_source": self.price_source,
        }


@dataclass(frozen=True)
class Plan:
    """What a batch will send and could cost, before anything is sent."""

    input: str
    format: str
    items: int  # usable items in the input
    invalid: int  # lines that could not be used
    skipped: int  # already in the output (--resume)
    to_send: int
    too_long: int  # items over the context window: written as failed, never sent
    prompt_tokens: int
    tokens: str  # "upper bound", "exact" or "estimate"
    cost_min: float | None
    cost_max: float | None
    models: tuple[ModelPlan, ...]
    via: str
    concurrency: int
    rpm: float | None
    tpm: float | None
    output: str
    first_request: dict[str, Any] | None

    @property
    def min_seconds(self) -> float | None:
        """The least time --rpm / --tpm allow for the whole batch."""
        limits = []
        if self.rpm:
            limits.append(self.to_send / self.rpm * 60)
        if self.tpm:
            limits.append(self.prompt_tokens / self.tpm * 60)
        return max(limits) if limits and self.via == "local" else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "format": self.format,
            "items": self.items,
            "invalid": self.invalid,
            "skipped": self.skipped,
            "to_send": self.to_send,
            "too_long": self.too_long,
            "prompt_tokens": self.prompt_tokens,
            "tokens": self.tokens,
            "cost_min": self.cost_min,
            "cost_max": self.cost_max,
            "models": [m.to_dict() for m in self.models],
            "via": self.via,
            "concurrency": self.concurrency if self.via == "local" else None,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "min_seconds": round(self.min_seconds, 1) if self.min_seconds is not None else None,
            "output": self.output,
            "first_request": self.first_request,
        }


def check_budget(plan: Plan, limit: float | None) -> None:
    """BudgetError (exit 7) if --max-cost is set and the plan could cost more (``budget.check_cost``)."""
    if limit is None:
        return
    label = "about " if plan.tokens != "exact" else ""
    budget.check_cost(
        limit,
        plan.cost_max,
        subject="this batch",
        detail=f"{plan.to_send:,} items, {label}{plan.prompt_tokens:,} prompt tokens + the output allowance",
        model="the batch",
        price_unknown=next((m.model for m in plan.models if m.price_source is None), None),
        unbounded_hint="set --max-tokens",
        hint="lower --max-tokens, split the input, or raise --max-cost",
    )


@dataclass
class _Group:
    """Items of one model at one price: counts, prompt tokens, the output allowance (None: unbounded)."""

    items: int = 0
    prompt: int = 0
    output: int | None = 0


@dataclass
class _Scan:
    """The running totals of one pass over the input."""

    items: int = 0
    invalid: int = 0
    skipped: int = 0
    too_long: int = 0
    prompt: int = 0
    reported: int = 0
    all_exact: bool = True
    first: dict[str, Any] | None = None
    mismatch: Item | None = None
    mismatches: int = 0
    groups: dict[tuple[str, Any], _Group] = field(default_factory=dict)
    lines: dict[Any, int] = field(default_factory=dict)  # id -> the line it was first seen on
    # Items numbered by their line (the usual case) are one bit each, not a dict entry:
    # a million-line file keeps the plan's memory flat.
    numbered: bytearray = field(default_factory=bytearray)

    def mark(self, line: int) -> None:
        if line // 8 >= len(self.numbered):
            self.numbered.extend(bytes(line // 8 + 1 - len(self.numbered) + 4096))
        self.numbered[line // 8] |= 1 << (line % 8)

    def marked(self, line: int) -> bool:
        return 0 <= line // 8 < len(self.numbered) and bool(self.numbered[line // 8] & (1 << (line % 8)))


def scan(job: Batch, *, exact: bool, report: bool) -> Plan:
    """One pass over the input: every item counted and priced (see the module's docstring)."""
    s = _Scan()
    done = job.existing.done
    for entry in job.source.entries():
        if isinstance(entry, Invalid):
            _invalid(job, s, entry, report)
        elif isinstance(entry, Note):
            if report:
                job.note(f"{job.source.name}:{entry.line}: {entry.text}", "warning")
        else:
            s.items += 1
            _unique(job, s, entry)
            recorded = done.get(item_key(entry))
            if recorded is None:
                _add(job, s, entry, exact)
                continue
            s.skipped += 1
            if recorded and recorded != short_hash(input_hash(entry.input)):
                s.mismatches += 1
                s.mismatch = s.mismatch or entry
    if s.mismatch is not None:
        raise UsageError(
            f"--resume: {s.mismatches:,} item(s) in {job.opts.output} were answered for other input "
            f"(first: id {s.mismatch.id!r}, line {s.mismatch.line}); the input changed, or the output belongs "
            "to another run",
            hint="use a new -o file, or delete those records",
        )
    if report and s.reported > MAX_REPORTED_LINES:
        more = s.reported - MAX_REPORTED_LINES
        job.emit(Notice(f"{more:,} more bad line{'s' if more > 1 else ''} skipped", "warning"))
    models = _model_plans(job, s.groups)
    o = job.opts
    return Plan(
        input=job.source.name,
        format=job.source.format,
        items=s.items,
        invalid=s.invalid,
        skipped=s.skipped,
        to_send=s.items - s.skipped,
        too_long=s.too_long,
        prompt_tokens=s.prompt,
        tokens="upper bound" if not exact else ("exact" if s.all_exact else "estimate"),
        cost_min=_total([m.cost_min for m in models]),
        cost_max=_total([m.cost_max for m in models]),
        models=models,
        via=o.via,
        concurrency=o.concurrency,
        rpm=o.rpm,
        tpm=o.tpm,
        output=str(o.output) if o.output is not None else "stdout",
        first_request=s.first,
    )


def _invalid(job: Batch, s: _Scan, entry: Invalid, report: bool) -> None:
    s.invalid += 1
    where = f"{job.source.name}:{entry.line}"
    if job.opts.strict:
        raise UsageError(f"{where}: {entry.reason}", hint="fix the line, or drop --strict to skip it")
    if report:
        s.reported += 1
        if s.reported <= MAX_REPORTED_LINES:
            job.emit(Notice(f"{where}: skipped: {entry.reason}", "warning"))


def _unique(job: Batch, s: _Scan, item: Item) -> None:
    """UsageError for an id seen before: its records could not tell the two items apart,
    and every --resume would stop on them."""
    by_line = item.target is None and type(item.id) is int and item.id == item.line
    if by_line:  # an id that came before as another item's given id is the only clash
        first = s.lines.get(item.id, item.line)
        s.mark(item.line)
    else:
        first = s.lines.setdefault(item_key(item), item.line)
        if first == item.line and item.target is None and type(item.id) is int and s.marked(item.id):
            first = item.id  # the item on that line was numbered by it
    if first != item.line:
        raise UsageError(
            f"{job.source.name}:{item.line}: id {item.id!r} again (first on line {first}); ids must be unique",
            hint="give each item its own id, or drop the ids to number the items by line",
        )


def _add(job: Batch, s: _Scan, item: Item, exact: bool) -> None:
    """Count and price one item still to send (or count it too long for its model's window)."""
    prof = job.profile_for(item)
    msgs = job.messages(item, prof)
    info = job.info(prof)
    window = info.context_window
    reserve = prof.max_tokens or 0
    if exact:
        n_tokens = job.count(msgs, prof)
        s.all_exact = s.all_exact and job.counter(prof).exact
    else:
        n_tokens = budget.bound(msgs, model=prof.model).tokens
    # The tool definitions go with every request (each step of a loop is another request: the note says so).
    extra = job.tools.tokens(prof) if job.tools is not None else 0
    reserve += extra
    if window is not None and n_tokens + reserve > window:
        if not exact:
            n_tokens = job.count(msgs, prof)
        if n_tokens + reserve > window:
            s.too_long += 1
            return
    n_tokens += extra
    s.prompt += n_tokens
    allowance = budget.allowance(prof, info, n_tokens)
    group = s.groups.setdefault((prof.model, info.price_for(n_tokens)), _Group())
    group.items += 1
    group.prompt += n_tokens
    if allowance is None or group.output is None:
        group.output = None
    else:
        group.output += allowance * max(1, prof.n)
    if s.first is None:
        s.first = preview(prof, msgs)


def _model_plans(job: Batch, groups: dict[tuple[str, Any], _Group]) -> tuple[ModelPlan, ...]:
    """One ModelPlan per model, its price groups summed (with the Batch API's discount)."""
    discount = BATCH_API_DISCOUNT if job.opts.via == "openai-batch" else 1.0
    merged: dict[str, list[Any]] = {}
    for (model, price), g in groups.items():
        lo = prices.cost(price, g.prompt, 0)
        hi = prices.cost(price, g.prompt, g.output) if g.output is not None else None
        m = merged.setdefault(model, [0, 0, 0, 0.0, 0.0])
        m[0] += g.items
        m[1] += g.prompt
        m[2] = None if g.output is None or m[2] is None else m[2] + g.output
        m[3] = None if lo is None or m[3] is None else m[3] + lo * discount
        m[4] = None if hi is None or m[4] is None else m[4] + hi * discount
    plans = []
    for model, (count, prompt, out, lo, hi) in merged.items():
        info = job.infos.get(model)
        source = info.source if info is not None else None
        if model == job.profile.model and job.profile.price is not None:
            source = "profile"
        plans.append(ModelPlan(model, count, prompt, out, lo, hi, source if lo is not None else None))
    return tuple(plans)


def preview(prof: Profile, msgs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first request as ``--dry-run`` shows it."""
    built = client.build_body(prof, msgs, stream=False)
    base = (prof.base_url or "https://api.openai.com/v1").rstrip("/")
    return {"method": "POST", "url": base + "/chat/completions", "body": built.body, "notes": list(built.notes)}


def _total(values: list[float | None]) -> float | None:
    """The sum, or None if any part is unknown."""
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)
