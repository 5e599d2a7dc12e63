"""``gptcli usage``: what was spent, from the conversation log, grouped and summed.

The figures come from the replay index (``replay.index``): each conversation's summary
carries ``spend`` rows (per UTC day, model and tag: requests, failures, cost, the
preflight's worst-case estimate, tokens in and out; see ``transcript.spend_rows``), so a
warm report over 10,000 conversations reads one index file and no conversation.
Replies undone or retried in chat count too: they were paid for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .transcript import SPEND_FIELDS

BY = ("day", "model", "profile", "tag")


@dataclass
class Row:
    """One group of the report."""

    key: str
    requests: int = 0
    failures: int = 0
    cost: float = 0.0
    estimate: float = 0.0  # the preflight's worst case of the priced replies
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: int = 0  # replies priced from counted tokens (no usage from the server)
    unpriced: int = 0  # replies without a known price
    conversations: set[str] = field(default_factory=set)

    def add(self, rec: dict[str, Any], cid: str) -> None:
        self.requests += rec["requests"]
        self.failures += rec["failures"]
        self.cost += rec["cost"]
        self.estimate += rec["estimate"]
        self.prompt_tokens += rec["prompt_tokens"]
        self.completion_tokens += rec["completion_tokens"]
        self.estimated += rec["estimated"]
        self.unpriced += rec["unpriced"]
        self.conversations.add(cid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "requests": self.requests,
            "failures": self.failures,
            "cost": round(self.cost, 10),
            "estimate": round(self.estimate, 10),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "estimated": self.estimated,
            "unpriced": self.unpriced,
            "conversations": len(self.conversations),
        }


@dataclass(frozen=True)
class Report:
    by: str
    since: str | None
    rows: tuple[Row, ...]
    total: Row

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since,
            "rows": [r.to_dict() for r in self.rows],
            "total": {k: v for k, v in self.total.to_dict().items() if k != "key"},
        }


def report(by: str = "day", since: str | None = None) -> Report:
    """Spend grouped ``by`` day, model, profile or tag, from ``since`` (``7d``, ``2026-11-01``) on."""
    from .replay.index import Index
    from .replay.listing import parse_since

    if by not in BY:
        raise UsageError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    cut = parse_since(since) if since else None
    cut_day = cut[:10] if cut else None
    groups: dict[str, Row] = {}
    total = Row("total")
    for name, entry in Index().refresh().items():
        if entry.kind != "ok" or (cut is not None and entry.updated < cut):
            continue
        if '"spend"' not in entry.row_json:
            continue
        summary = json.loads(entry.row_json)
        for raw in summary.get("spend") or ():
            rec = dict(zip(SPEND_FIELDS, raw, strict=False))
            if cut_day is not None and str(rec["day"]) < cut_day:
                continue
            key = {
                "day": rec["day"],
                "model": rec["model"],
                "tag": rec["tag"] or "(none)",
                "profile": entry.profile or "(none)",
            }[by]
            groups.setdefault(str(key), Row(str(key))).add(rec, name)
            total.add(rec, name)
    rows = sorted(groups.values(), key=lambda r: r.key if by == "day" else -r.cost)
    return Report(by, cut, tuple(rows), total)
