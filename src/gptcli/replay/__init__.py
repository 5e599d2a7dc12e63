"""Saved conversations as a scriptable asset: the ``replay`` use cases.

* ``index``: one summary per conversation file (``IndexEntry``), cached in the cache
  dir so that listing 10,000 conversations does not read 10,000 files.
* ``listing``: summaries newest first, filtered by model, profile, date and text.
* ``show``: which conversation an id, a path or ``--last`` means, and its ``--json`` value.
* ``estimate``: the price of a whole re-run, and the ``--max-cost`` check, before sending.
* ``rerun``: the plan (profile, turns) and the re-run itself, as a generator of events.

Nothing here prints: results and events go back to ``cli``, which hands them to
``render`` (``render.transcript`` for the formats, ``render.diff`` for ``--diff``).
Nothing here writes to a conversation file: a re-run creates a new one through the
Session; the index lives in the cache dir. The values shared with the renderers
(``OldTurn``, ``NewTurn``, ``Plan``, ``Estimate``, ``RerunResult``...) live in the core
module ``gptcli.transcript``.
"""

from __future__ import annotations

from ..transcript import Message, messages, reply_stats, shorten, summarize
from ..transcript_rerun import Estimate, NewTurn, OldTurn, Plan, RerunResult, old_turns
from .estimate import check_budget, estimate, fit_budget
from .index import INDEX_NAME, INDEX_VERSION, Index, IndexEntry, index_path, row
from .listing import Filters, Listing, listing, newest, parse_since
from .rerun import CARRIED, TurnDone, TurnStart, plan_rerun, rerun
from .show import load, to_json

__all__ = [
    "CARRIED",
    "INDEX_NAME",
    "INDEX_VERSION",
    "Estimate",
    "Filters",
    "Index",
    "IndexEntry",
    "Listing",
    "Message",
    "NewTurn",
    "OldTurn",
    "Plan",
    "RerunResult",
    "TurnDone",
    "TurnStart",
    "check_budget",
    "estimate",
    "fit_budget",
    "index_path",
    "listing",
    "load",
    "messages",
    "newest",
    "old_turns",
    "parse_since",
    "plan_rerun",
    "reply_stats",
    "rerun",
    "row",
    "shorten",
    "summarize",
    "to_json",
]
