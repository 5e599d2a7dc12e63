"""A small MCP server over streamable HTTP, written with the ``mcp`` SDK, for the tests.

``python http_server.py PORT [TOKEN]``: serves ``/mcp`` on 127.0.0.1:PORT. With TOKEN, a
request without ``Authorization: Bearer TOKEN`` is answered 401. Tools: ``echo``, ``upper``.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("words", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool(description="Upper-case the text.\n\nA second paragraph \x1b[31min red\x1b[0m.")
def upper(text: str) -> str:
    return text.upper()


def guarded(app: Any, token: str | None) -> Any:
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if token and scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode() != f"Bearer {token}":
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return asgi


if __name__ == "__main__":
    port = int(sys.argv[1])
    token = sys.argv[2] if len(sys.argv) > 2 else None
    app = guarded(server.streamable_http_app(), token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
