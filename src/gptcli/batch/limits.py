"""Rate limits of a local batch run: ``--rpm`` / ``--tpm`` token buckets, the shared
pause a server's Retry-After asks for, and the backoff between attempts."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

# A server asking for a longer pause than this is not asking for a retry: the item fails,
# saying so. The OpenAI SDK draws the same line for ask and chat (2 minutes).
MAX_RETRY_AFTER = 120.0


class Bucket:
    """A token bucket refilled continuously at ``per_minute / 60`` per second.

    It holds at most one second's worth (at least one unit), so a per-minute limit is
    spread over the minute rather than spent in a burst at its start; a request larger
    than that waits for a full bucket and then leaves it in debt.
    """

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken (0: now)."""
        self._refill(now)
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount


class Limiter:
    """``--rpm`` and ``--tpm``, and a shared pause when the server says Retry-After.

    Waiters queue in order (a lock), so a large request is not starved by small ones.
    """

    def __init__(self, rpm: float | None, tpm: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        now = clock()
        self.clock = clock
        self.requests = Bucket(rpm, now) if rpm else None
        self.tokens = Bucket(tpm, now) if tpm else None
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int = 0) -> None:
        if self.requests is None and self.tokens is None and self.clock() >= self.paused_until:
            return
        async with self._lock:
            while True:
                now = self.clock()
                wait = self.paused_until - now
                if wait <= 0:
                    wait = max(
                        self.requests.wait(1, now) if self.requests else 0.0,
                        self.tokens.wait(tokens, now) if self.tokens else 0.0,
                    )
                    if wait <= 0:
                        if self.requests:
                            self.requests.take(1)
                        if self.tokens:
                            self.tokens.take(tokens)
                        return
                await asyncio.sleep(wait)

    def settle(self, charged: int, actual: int | None) -> None:
        """Charge what a reply used beyond its reservation.

        A reservation is never refunded: OpenAI counts a request's ``max_tokens``
        against the limit when it arrives, whether or not they are used.
        """
        if self.tokens is not None and actual is not None and actual > charged:
            self.tokens.take(actual - charged)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt ``attempt + 1``: the server's word, else exponential with jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(0.5 * 2 ** (attempt - 1), 30.0) * (0.75 + 0.25 * random.random())
