"""The MCP servers a profile declares, as one ``Toolbox`` (``base.Toolbox``) for the tool loop.

``toolbox_for(profile)`` builds it; nothing starts until a tool is listed or called. The
SDK is async; the toolbox is not: one daemon thread runs an event loop holding every
server's session (``mcp_session.Connection``), and the sync methods wait on it with a
timeout. Servers start in parallel on first use and stop on ``close()`` (and at exit, if
the caller forgot). A stdio server's stderr goes to ``cache_dir()/mcp/NAME.stderr.log``,
never to the user's terminal.

Failures stay contained: a server that does not start is in ``errors`` (its tools are
missing from ``specs()``) and ``server_specs`` raises it; a call to a server that crashed,
hung or failed is an error ``ToolResult`` with one line, never an exception. A result
longer than ``max_result_chars`` is cut, and the text says so (the model reads it).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import threading
import time
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError, GptcliError, ToolServerError
from .base import ToolResult, ToolSpec
from .config import DEFAULT_MAX_RESULT_CHARS, ServerConfig, server_may_match, servers, tool_settings

if TYPE_CHECKING:
    from ..models import Profile
    from .mcp_session import Connection

T = TypeVar("T")
_SLACK = 10.0  # past a server's own timeout, how long the caller waits for the loop to answer


def toolbox_for(profile: Profile, select: Sequence[str] | None = None) -> McpToolbox:
    """The profile's MCP servers as a toolbox (none started yet).

    ``select``: tool patterns (``--tools``; ``fs``, ``fs.read_file``, ``fs.*``) whose servers
    are the only ones kept; None: the profile's ``[tools] enabled``, else every server.
    """
    ts = tool_settings(profile)
    patterns = select if select is not None else ts.enabled
    chosen = [s for s in servers(profile) if patterns is None or server_may_match(s.name, patterns)]
    return McpToolbox(chosen, max_result_chars=ts.max_result_chars)


class McpToolbox:
    """MCP servers behind the sync ``Toolbox`` protocol (see the module docstring)."""

    def __init__(
        self,
        configs: Iterable[ServerConfig],
        *,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        log_dir: Path | None = None,
    ) -> None:
        self.configs = {c.name: c for c in configs}
        self.max_result_chars = max_result_chars
        self.errors: dict[str, GptcliError] = {}  # servers that did not start, or stopped
        self._log_dir = log_dir
        self._conns: dict[str, Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> McpToolbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def names(self) -> list[str]:
        return list(self.configs)

    # --- listing ------------------------------------------------------------------------

    def start(self, names: Iterable[str] | None = None) -> None:
        """Start the named servers (default: all) that are not started yet, in parallel."""
        with self._lock:
            wanted = self.configs if names is None else [n for n in names if n in self.configs]
            todo = [n for n in wanted if n not in self._conns and n not in self.errors]
            if not todo:
                return
            conns = []
            for name in todo:
                try:
                    conns.append(self._connection(self.configs[name]))
                except GptcliError as e:  # a secret's command failed, before anything started
                    self.errors[name] = e
            wait = max((c.config.start_timeout for c in conns), default=0.0) + _SLACK
            try:
                if conns:
                    self._run(_gather(c.start(c.config.start_timeout) for c in conns), wait)
            except ToolServerError as e:  # the loop itself did not answer: every server of this start failed
                for c in conns:
                    c.error = c.error or e
            for c in conns:
                if c.error is not None:
                    self.errors[c.name] = c.error
                else:
                    self._conns[c.name] = c

    def specs(self) -> list[ToolSpec]:
        """The tools of every server that starts; the others are in ``errors``."""
        self.start()
        return [spec for c in self._conns.values() for spec in c.specs]

    def server_specs(self, name: str) -> list[ToolSpec]:
        """One server's tools; its failure to start raises (one line, ``detail`` for -v)."""
        if name not in self.configs:
            raise ConfigError(f"no MCP server {name!r} in this profile (known: {', '.join(self.configs) or 'none'})")
        self.start([name])
        if name in self.errors:
            raise self.errors[name]
        return list(self._conns[name].specs)

    # --- calling ------------------------------------------------------------------------

    def call(self, spec: ToolSpec, arguments: dict[str, Any], *, timeout: float) -> ToolResult:
        """Run one tool. ``timeout``: seconds, unless the server's profile table sets its own."""
        t0 = time.monotonic()
        config = self.configs.get(spec.server)
        if config is None:
            return _error(f"no MCP server {spec.server!r} in this profile", t0)
        if config.timeout is not None:
            timeout = config.timeout
        self.start([spec.server])
        if spec.server in self.errors:
            return _error(str(self.errors[spec.server]), t0)
        conn = self._conns[spec.server]
        try:
            result = self._run(conn.call(spec.name, arguments, timeout), timeout + _SLACK)
        except ToolServerError as e:
            if conn.error is not None:
                self.errors[spec.server] = conn.error
            return _error(str(e), t0)
        text = result_text(result)
        truncated = len(text) > self.max_result_chars
        if truncated:
            text = (
                text[: self.max_result_chars]
                + f"\n[gptcli: result truncated: {len(text):,} characters, the first {self.max_result_chars:,} shown]"
            )
        return ToolResult(text, is_error=bool(result.is_error), duration=time.monotonic() - t0, truncated=truncated)

    # --- the loop -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server and the loop's thread (safe to call twice)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        conns = list(self._conns.values())
        self._conns.clear()
        try:
            if conns:
                from .mcp_session import STOP_GRACE

                self._run(_gather(c.stop() for c in conns), 2 * STOP_GRACE + _SLACK)
        except (GptcliError, concurrent.futures.TimeoutError):
            pass  # the loop is stopped anyway; a daemon thread cannot hold up the exit
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None
            atexit.unregister(self.close)

    def _connection(self, config: ServerConfig) -> Connection:
        from .. import settings
        from .mcp_session import Connection
        from .secrets import resolved

        env, headers = resolved(config)
        log_dir = self._log_dir or settings.cache_dir() / "mcp"
        return Connection(config, env, headers, log_dir / f"{config.name}.stderr.log")

    def _run(self, coro: Coroutine[Any, Any, T], wait: float) -> T:
        if self._loop is None:
            import logging

            # The SDK logs a server's protocol mistakes; without a handler Python would print them
            # (tracebacks included) on the user's stderr. With --debug's logging they still show.
            logging.getLogger("mcp").addHandler(logging.NullHandler())
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="gptcli-mcp", daemon=True)
            self._thread.start()
            atexit.register(self.close)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(wait)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ToolServerError(f"MCP servers did not answer in {wait:g} s") from None
        except BaseException:  # Ctrl-C while waiting: the call is cancelled on the loop too
            future.cancel()
            raise


async def _gather(coros: Iterable[Coroutine[Any, Any, Any]]) -> None:
    await asyncio.gather(*coros)


def _error(text: str, t0: float) -> ToolResult:
    return ToolResult(f"error: {text}", is_error=True, duration=time.monotonic() - t0)


def result_text(result: Any) -> str:
    """A ``CallToolResult`` as text for the model: text blocks joined, other content a placeholder."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "?")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(block.data) * 3 // 4  # base64
            parts.append(f"[{kind} content: {block.mime_type}, about {size:,} bytes, not shown]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri}]")
        elif kind == "resource":
            res = block.resource
            text = getattr(res, "text", None)
            parts.append(text if text is not None else f"[resource {res.uri}: {res.mime_type or 'binary'}, not shown]")
        else:
            parts.append(f"[{kind} content, not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)
