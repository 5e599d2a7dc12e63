"""One MCP server's connection, on the toolbox's event loop (the async half of ``tools.mcp``).

A ``Connection`` owns one task that enters the SDK's ``Client`` (stdio or streamable HTTP),
lists the tools, and holds the session open until ``stop``: the SDK's cancel scopes must be
entered and left by the same task. Calls run as other tasks on the same session. Every
failure becomes a ``GptcliError`` whose message is one line naming the server (with the last
line the server wrote on stderr, cleaned); the rest of its stderr is ``detail`` (``-v``).

Imports the ``mcp`` SDK: only ``tools.mcp`` imports this module, inside its functions.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, Implementation

from .. import __version__
from ..errors import AuthError, ConfigError, GptcliError, ToolServerError
from ..printable import clean
from .base import ToolSpec
from .config import ServerConfig

MAX_PAGES = 100  # a server whose tool listing never ends cannot hang the start
STOP_GRACE = 6.0  # the SDK closes stdin, waits 2 s, then SIGTERM, 2 s, SIGKILL


class Connection:
    """A started (or failed) server: ``specs`` once up, ``error`` once it failed for good."""

    def __init__(self, config: ServerConfig, env: dict[str, str], headers: dict[str, str], errlog: Path) -> None:
        self.config = config
        self._env = env
        self._headers = headers
        self.errlog = errlog
        self._offset = 0
        self._http_status: int | None = None  # the last error status an HTTP server answered
        self.specs: list[ToolSpec] = []
        self.error: GptcliError | None = None
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return self.config.name

    # --- start and stop ---------------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Start the server and list its tools; on failure ``error`` is set (never raises)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[list[ToolSpec]] = loop.create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready))
        try:
            self.specs = await asyncio.wait_for(asyncio.shield(ready), timeout)
        except TimeoutError:
            self.error = self._failure(f"did not answer in {timeout:g} s (the server's timeout)", at_start=True)
            await self.stop()
        except asyncio.CancelledError:
            await self.stop()
            raise
        except BaseException as e:  # the SDK's and the transport's failures, each said in one line
            self.error = self._explain(e, at_start=True)
            await self.stop()

    async def _run(self, ready: asyncio.Future[list[ToolSpec]]) -> None:
        assert self._stop is not None
        try:
            async with self._client_cm() as client:
                specs = await self._list(client)
                self._client = client
                ready.set_result(specs)
                await self._stop.wait()
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                if not ready.done():
                    ready.cancel()
                raise
            if not ready.done():
                ready.set_exception(e if isinstance(e, Exception) else RuntimeError(str(e)))
            elif self.error is None:  # the session ended under a running server (an HTTP server gone)
                self.error = self._explain(e, at_start=False)
        finally:
            self._client = None

    async def stop(self) -> None:
        """Leave the session: the SDK stops a stdio server (stdin closed, then signals)."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._client is None:
            task.cancel()  # still starting (a hang in the handshake): nothing to leave politely
        elif self._stop is not None:
            self._stop.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_GRACE)

    async def _saw(self, response: Any) -> None:
        if response.status_code >= 400:
            self._http_status = response.status_code

    @asynccontextmanager
    async def _client_cm(self) -> AsyncIterator[Client]:
        c = self.config
        info = Implementation(name="gptcli", version=__version__)
        async with AsyncExitStack() as stack:
            if c.command:
                cwd = Path(c.cwd).expanduser() if c.cwd else None
                if cwd is not None and not cwd.is_dir():
                    raise ConfigError(f"MCP server {c.name!r}: cwd {str(cwd)!r} is not a directory")
                params = StdioServerParameters(command=c.command, args=list(c.args), env=self._env or None, cwd=cwd)
                errlog = stack.enter_context(_open_log(self.errlog))
                self._offset = errlog.tell()
                transport: Any = stdio_client(params, errlog=errlog)
            else:
                http = await stack.enter_async_context(create_mcp_http_client(headers=self._headers or None))
                http.event_hooks["response"].append(self._saw)  # the SDK's error for a 401 drops the status
                transport = streamable_http_client(c.url or "", http_client=http)
            client = await stack.enter_async_context(Client(transport, client_info=info))
            yield client

    async def _list(self, client: Client) -> list[ToolSpec]:
        specs: list[ToolSpec] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            specs += [_spec(self.name, t) for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        return specs

    # --- calls --------------------------------------------------------------------------

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> CallToolResult:
        """The server's answer; a transport failure or a timeout raises ``ToolServerError``."""
        if self.error is not None:
            raise self.error
        client = self._client
        if client is None:
            raise self._failure("has stopped", at_start=False)
        try:
            # The SDK's own read timeout ends the request (and tells the server); wait_for is the backstop.
            return await asyncio.wait_for(client.call_tool(name, arguments, read_timeout_seconds=timeout), timeout + 2)
        except TimeoutError:
            raise self._timeout(name, timeout) from None
        except MCPError as e:
            if e.code == REQUEST_TIMEOUT:
                raise self._timeout(name, timeout) from None
            if e.code == CONNECTION_CLOSED:
                self.error = self._failure(f"stopped during the call to {self.name}.{name}", at_start=False)
                raise self.error from None
            raise ToolServerError(f"MCP server {self.name!r}: {name}: {_one_line(e.message)}") from None
        except (OSError, EOFError) as e:
            self.error = self._explain(e, at_start=False)
            raise self.error from None

    def _timeout(self, name: str, timeout: float) -> ToolServerError:
        return ToolServerError(
            f"MCP server {self.name!r}: {self.name}.{name} did not answer in {timeout:g} s",
            hint=f"a longer wait: timeout = SECONDS in [mcp.servers.{self.name}]",
        )

    # --- saying what happened -----------------------------------------------------------

    def _explain(self, e: BaseException, *, at_start: bool) -> GptcliError:
        e = _leaf(e)
        if isinstance(e, GptcliError):
            return e
        c = self.config
        if isinstance(e, FileNotFoundError) and c.command:
            return ConfigError(f"MCP server {c.name!r}: command not found: {c.command}")
        if isinstance(e, PermissionError) and c.command:
            return ConfigError(f"MCP server {c.name!r}: cannot run {c.command}: permission denied")
        if isinstance(e, MCPError) and e.code == CONNECTION_CLOSED:
            return self._failure("exited during start-up" if at_start else "stopped", at_start=at_start)
        what = _one_line(str(e)) or type(e).__name__
        if self._http_status in (401, 403):
            return AuthError(
                f"MCP server {c.name!r} at {c.shown[4:]} refused the credentials (HTTP {self._http_status})",
                hint=f"check the headers or headers_cmd of [mcp.servers.{c.name}]",
            )
        if self._http_status is not None:
            what = f"HTTP {self._http_status}: {what}"
        if type(e).__module__.startswith(("httpx", "httpcore")):
            return ToolServerError(f"MCP server {c.name!r} at {c.shown[4:]}: cannot connect: {what}")
        verb = "did not start" if at_start else "failed"
        return self._failure(f"{verb}: {what}", at_start=at_start)

    def _failure(self, what: str, *, at_start: bool) -> ToolServerError:
        lines = self._stderr_lines()
        last = f": {_one_line(lines[-1])}" if lines else ""
        err = ToolServerError(f"MCP server {self.name!r} ({self.config.shown}) {what}{last}")
        if lines:
            err.detail = "\n".join(clean(x) for x in lines[-20:]) + f"\n(its stderr: {self.errlog})"
        return err

    def _stderr_lines(self) -> list[str]:
        if not self.config.command:
            return []
        try:
            with self.errlog.open("rb") as f:
                f.seek(self._offset)
                data = f.read()[-20000:]
        except OSError:
            return []
        return [x for x in data.decode("utf-8", "replace").splitlines() if x.strip()]


def _spec(server: str, tool: Any) -> ToolSpec:
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {"type": "object", "properties": {}}
    return ToolSpec(server=server, name=tool.name, description=tool.description or "", input_schema=schema)


def _leaf(e: BaseException) -> BaseException:
    """The first real failure inside the task groups' exception groups."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(clean(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open_log(path: Path) -> TextIO:
    """The server's stderr file (appended; started afresh past 1 MB), never the user's terminal."""
    from .. import settings

    settings.ensure_private_dir(path.parent)
    try:
        big = path.stat().st_size > 1_000_000
    except OSError:
        big = False
    f = path.open("w" if big else "a", encoding="utf-8", errors="replace")
    if sys.platform != "win32":
        path.chmod(0o600)
    return f
