"""A small MCP server over stdio, written with the ``mcp`` SDK, for the tests.

Tools: ``add``, ``read_note``, ``slow`` (sleeps), ``big`` (a long text), ``crash`` (the
process dies mid-call), ``fail`` (an error result), ``picture`` (an image), ``env`` (one
environment variable's value, to prove the profile's ``env`` arrives), ``pid``, ``noise`` (a
line that is not JSON-RPC on stdout). ``--exit-at-start``
dies before the handshake with a line on stderr; ``--hang-at-start`` never answers it.
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("notes", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
def read_note(name: str) -> str:
    """Read one of the server's notes by name."""
    notes = {"todo": "buy milk", "evil": "\x1b]0;pwned\x07title\x1b[31mred"}
    if name not in notes:
        raise ToolError(f"no note named {name!r}")
    return notes[name]


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def big(n: int) -> str:
    """n characters of text."""
    return "x" * n


@server.tool()
def crash() -> str:
    """Die in the middle of the call."""
    print("notes: fatal: the disk is on fire \x1b[31m!", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(structured_output=False)
def picture() -> list[object]:
    """A caption and a tiny image."""
    return ["a red dot", Image(data=b"\x89PNG\r\n\x1a\n" + b"0" * 20, format="png")]


@server.tool()
def env(name: str) -> str:
    """The value of one environment variable of the server process."""
    return os.environ.get(name, "(unset)")


@server.tool()
def noise() -> str:
    """Write a line that is not JSON-RPC on stdout (the protocol's channel), then answer."""
    sys.stdout.write("this is not JSON\n")
    sys.stdout.flush()
    return "noisy"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


if __name__ == "__main__":
    print("notes server starting", file=sys.stderr, flush=True)
    if "--exit-at-start" in sys.argv:
        print("notes: cannot open the database \x1b[2J(locked)", file=sys.stderr, flush=True)
        sys.exit(2)
    if "--hang-at-start" in sys.argv:
        time.sleep(600)
    server.run("stdio")
