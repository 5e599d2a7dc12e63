"""What to do about a connection that failed: the hint on a NetworkError's one line.

A refused connection to Ollama's port asks whether Ollama is running; a host name that
does not resolve points at ``base_url``; any other refused connection asks whether the
server is up. Kept apart from the error classification (``openai.translate``), so that
the texts can change without touching it. No SDK import: the cause is recognised by
its type in the exception chain, or by the text the OS gives it.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

OLLAMA_PORT = 11434
_LOCAL = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
_REFUSED = ("connection refused", "errno 111", "errno 61", "winerror 10061")
_DNS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "errno -2",
    "errno -3",
    "errno -5",
    "errno 8]",
    "errno 11001",
)
PROFILE_CHECK = "check base_url with: gptcli profiles show"


def _chain(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def connection_hint(url: str, cause: BaseException) -> str | None:
    """The fix for a connection to ``url`` that failed with ``cause`` (None: nothing specific to say)."""
    chain = _chain(cause)
    text = " ".join(str(e) for e in chain).lower()
    parts = urlsplit(url)
    host = parts.hostname or url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if any(isinstance(e, socket.gaierror) for e in chain) or any(s in text for s in _DNS):
        return f"the host name {host!r} does not resolve; {PROFILE_CHECK}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or any(s in text for s in _REFUSED):
        if port == OLLAMA_PORT:
            return "is Ollama running? Start it with: ollama serve"
        if host in _LOCAL:
            return f"is a server running on port {port}? If so, {PROFILE_CHECK}"
        return f"is the server at {host}:{port} up? If so, {PROFILE_CHECK}"
    return None
