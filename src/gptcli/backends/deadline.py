"""Deadlines the read timeout cannot give (issue 17 #9), as httpx event hooks.

httpx's read timeout is the longest wait for the next *byte*. A server that sends an SSE
comment (``: ping``) every 0.2 s, or one byte a second, never trips it, and the SDK's
retries multiply it. So each request made through a client built here has:

* a **deadline**: the whole request, retries and waits included (profile key
  ``deadline``, flag ``--deadline``/``--timeout``; default ``DEFAULT`` seconds, or
  ``REASONING_DEFAULT`` for reasoning models). Every attempt's timeouts are cut to the
  time left, and an attempt started after it fails at once;
* a **stall limit** for event streams: ``timeout`` seconds with no ``data:`` event is
  a stall, whatever else (comments, keep-alive bytes) arrives meanwhile.

Both raise ``Exceeded``, which the backend reports as one line saying which.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

DEFAULT = 600.0  # 10 minutes for a chat reply
REASONING_DEFAULT = 1800.0  # reasoning models may think for a long time before the first token


class Exceeded(Exception):
    """The deadline passed, or a stream stalled; the message says which."""


class Clock:
    """One request's deadline, shared by its attempts (the SDK's retries)."""

    def __init__(self, deadline: float, stall: float) -> None:
        self.deadline = deadline
        self.stall = stall
        self.start: float | None = None
        self.attempts = 0

    def reset(self) -> None:
        self.start = None
        self.attempts = 0

    def elapsed(self) -> float:
        return 0.0 if self.start is None else time.monotonic() - self.start

    def left(self) -> float:
        return self.deadline - self.elapsed()

    def check(self) -> None:
        if self.left() <= 0:
            tries = f" ({self.attempts} attempts)" if self.attempts > 1 else ""
            raise Exceeded(f"no complete reply within the {self.deadline:g} s deadline{tries}")

    # -- the hooks -------------------------------------------------------------------------

    def on_request(self, request: Any) -> None:
        if self.start is None:
            self.start = time.monotonic()
        self.attempts += 1
        self.check()
        left = max(self.left(), 0.001)
        timeouts = dict(request.extensions.get("timeout") or {})
        request.extensions["timeout"] = {k: (left if v is None else min(v, left)) for k, v in timeouts.items()} or {
            "connect": left,
            "read": left,
            "write": left,
            "pool": left,
        }

    def on_response(self, response: Any) -> None:
        import httpx2 as httpx

        sse = response.headers.get("content-type", "").startswith("text/event-stream")
        watched = type("_WatchedSync", (_Watched, httpx.SyncByteStream), {})
        response.stream = watched(response.stream, self, sse)

    # The async client (batch) sends many requests at once and retries them itself: a clock
    # per request, kept on the request.

    async def aon_request(self, request: Any) -> None:
        clock = Clock(self.deadline, self.stall)
        request.extensions["gptcli_clock"] = clock
        clock.on_request(request)

    async def aon_response(self, response: Any) -> None:
        import httpx2 as httpx

        clock = response.request.extensions.get("gptcli_clock", self)
        sse = response.headers.get("content-type", "").startswith("text/event-stream")
        watched = type("_WatchedAsync", (_Watched, httpx.AsyncByteStream), {})
        response.stream = watched(response.stream, clock, sse)


class _Watched:
    """A response body that checks the deadline, and (event streams) the stall limit, per chunk."""

    def __init__(self, stream: Any, clock: Clock, sse: bool) -> None:
        self.stream = stream
        self.clock = clock
        self.sse = sse
        self.last = time.monotonic()
        self.line = b""

    def _seen(self, chunk: bytes) -> None:
        self.clock.check()
        if not self.sse:
            return
        now = time.monotonic()
        *done, self.line = (self.line + chunk).split(b"\n")
        if any(line.startswith(b"data:") for line in done):
            self.last = now
        elif now - self.last > self.clock.stall:
            raise Exceeded(f"the reply stalled: no event for {self.clock.stall:g} s (only keep-alive bytes)")
        if len(self.line) > 1 << 20:
            self.line = self.line[-16:]

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:
            self._seen(chunk)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            self._seen(chunk)
            yield chunk

    def close(self) -> None:
        self.stream.close()

    async def aclose(self) -> None:
        await self.stream.aclose()


def default_for(reasoning: bool) -> float:
    return REASONING_DEFAULT if reasoning else DEFAULT
