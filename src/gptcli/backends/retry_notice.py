"""Make the SDK's retries visible: "request failed, retrying in 2 s, 1 of 2".

The OpenAI SDK retries a refused connection, a timeout, a 429 or a 5xx itself
(``max_retries`` in the profile), sleeping between attempts; the user only saw a
silent wait. The SDK logs each retry just before its sleep, at INFO level, on the
``openai._base_client`` logger ("Retrying request in %f seconds (retry %i of %s)").
``shown(notice)`` listens there for as long as it is entered and hands each retry,
as a sentence, to ``notice`` (the caller's status line on stderr). No SDK import: if a
newer SDK words or names it differently, the notice is simply not shown
(tests/test_first_contact.py checks it against the installed SDK).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

LOGGER = "openai._base_client"
_PREFIX = "Retrying request in"


class _Listener(logging.Handler):
    def __init__(self, notice: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.notice = notice

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.msg, str) or not record.msg.startswith(_PREFIX):
            return
        try:
            seconds, attempt, of = record.args  # type: ignore[misc]
            assert isinstance(seconds, float | int) and isinstance(attempt, int)
            self.notice(f"request failed, retrying in {_seconds(float(seconds))}, {int(attempt)} of {of}")
        except Exception:  # a reworded SDK message: stay silent rather than break the request
            return


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.2g} s"  # 12 s, 2 s, 0.5 s, 0.01 s


@contextlib.contextmanager
def shown(notice: Callable[[str], None]) -> Iterator[None]:
    """While entered, each retry of the SDK is said through ``notice``."""
    logger = logging.getLogger(LOGGER)
    listener = _Listener(notice)
    level = logger.level
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    logger.addHandler(listener)
    try:
        yield
    finally:
        logger.removeHandler(listener)
        logger.setLevel(level)
