"""A spending cap shared by every gptcli process: ``--budget 5/day`` (week, month).

The ledger is one JSON file under the data dir (``budget-ledger.json``), changed only
while holding an exclusive ``fcntl`` lock on ``budget-ledger.lock``. Before a request,
``Ledger.reserve`` (under the lock) works out what is left of the period's cap (the
settled costs plus the open reservations), lets the caller fit the request into it
(``--max-cost`` semantics: the output is capped to what is left) and records the
request's worst-case cost; after the reply ``settle`` replaces the reservation by the
actual cost. So the sum of actual costs can never pass the cap, whatever the number of
processes, and a request is refused (BudgetError, exit 7) only when even its prompt
and a minimal reply do not fit what is left.

Crash safety: a reservation carries its process id and host; one whose process is gone
(or older than a day) no longer counts. Periods are the local calendar day, the ISO
week (from Monday) and the calendar month; records older than 62 days are dropped.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from . import jsonl, settings
from .errors import BudgetError, ConfigError
from .models import usd

PERIODS = ("day", "week", "month")
LEDGER = "budget-ledger.json"
STALE_SECONDS = 24 * 3600  # a reservation this old is from a process that hung or lost its host
KEEP_SECONDS = 62 * 24 * 3600

T = TypeVar("T")


@dataclass(frozen=True)
class Cap:
    amount: float
    period: str  # day | week | month

    def __str__(self) -> str:
        return f"{usd(self.amount)}/{self.period}"

    def start(self, now: float) -> float:
        """The epoch second the period containing ``now`` began (local time)."""
        d = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "week":
            d -= timedelta(days=d.weekday())
        elif self.period == "month":
            d = d.replace(day=1)
        return d.timestamp()


def parse_budget(spec: str) -> Cap:
    """``"5/day"``, ``"$0.50/week"``, ``"20/month"`` -> Cap; ValueError otherwise."""
    amount, sep, period = spec.strip().partition("/")
    period = period.strip().lower()
    try:
        value = float(amount.strip().lstrip("$"))
    except ValueError:
        value = -1.0
    if not sep or period not in PERIODS or not value >= 0 or value == float("inf"):
        raise ValueError(f"must be USD/PERIOD with PERIOD day, week or month (e.g. 5/day), got {spec!r}")
    return Cap(value, period)


def _alive(rec: dict[str, Any], now: float) -> bool:
    """Whether an open reservation still counts."""
    if now - float(rec.get("t", 0)) > STALE_SECONDS:
        return False
    if rec.get("host") != socket.gethostname():
        return True  # another machine sharing the data dir: trust it until it goes stale
    try:
        os.kill(int(rec.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


class Ledger:
    """The ledger file of one data dir."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or settings.data_dir()
        self.path = self.dir / LEDGER

    @contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        import fcntl

        settings.ensure_private_dir(self.dir)
        with open(self.dir / "budget-ledger.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                records = self._read()
                before = [dict(r) for r in records]
                yield records
                if records != before:
                    now = time.time()
                    keep = [r for r in records if now - float(r.get("t", 0)) < KEEP_SECONDS]
                    jsonl.atomic_write(self.path, json.dumps({"v": 1, "records": keep}))
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _read(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"budget ledger {self.path} is unreadable: {e}", hint="remove it to start afresh"
            ) from None
        records = data.get("records") if isinstance(data, dict) else None
        return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []

    @staticmethod
    def _spent(records: list[dict[str, Any]], cap: Cap, now: float) -> tuple[float, float]:
        """(settled costs, live reservations) in the period of ``cap`` containing ``now``."""
        start = cap.start(now)
        settled = reserved = 0.0
        for r in records:
            if float(r.get("t", 0)) < start:
                continue
            if r.get("actual") is not None:
                settled += float(r["actual"])
            elif _alive(r, now):
                reserved += float(r.get("reserved") or 0.0)
        return settled, reserved

    def spent(self, cap: Cap) -> float:
        """Settled costs plus live reservations in the current period."""
        with self._locked() as records:
            return sum(self._spent(records, cap, time.time()))

    def reserve(self, cap: Cap, fit: Callable[[float], tuple[T, float]], *, wait: float = 600.0) -> tuple[T, str]:
        """Under the lock: ``fit(what is left)`` -> (its result, the worst-case cost to
        reserve). When it does not fit only because of other requests' open reservations,
        wait (up to ``wait`` seconds) for them to settle: their actual cost is usually far
        below their worst case. Raises BudgetError (7) when it cannot fit. Returns (the
        result, the reservation id for ``settle``)."""
        deadline = time.monotonic() + wait
        pause = 0.02
        while True:
            with self._locked() as records:
                now = time.time()
                settled, reserved = self._spent(records, cap, now)
                left = max(cap.amount - settled - reserved, 0.0)
                try:
                    result, worst = fit(left)
                    if settled + reserved + worst > cap.amount + 1e-12:
                        raise BudgetError(f"could cost up to {usd(worst)}")
                except BudgetError as e:
                    if reserved <= 0 or time.monotonic() > deadline:
                        raise BudgetError(
                            f"--budget {cap}: {usd(settled)} spent this {cap.period}"
                            + (f", {usd(reserved)} reserved by requests in flight" if reserved > 0 else "")
                            + f", {usd(left)} left; this request: {e.message}",
                            hint="wait for the next period or raise the budget",
                        ) from None
                else:
                    ident = uuid.uuid4().hex
                    records.append(
                        {"id": ident, "t": now, "pid": os.getpid(), "host": socket.gethostname(), "reserved": worst}
                    )
                    return result, ident
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)

    def settle(self, ident: str, actual: float) -> None:
        """Replace reservation ``ident`` by the actual cost (never more than reserved is assumed)."""
        with self._locked() as records:
            for r in records:
                if r.get("id") == ident:
                    r["actual"] = actual
                    break
