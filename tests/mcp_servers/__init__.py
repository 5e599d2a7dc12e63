"""The tests' MCP servers (written with the ``mcp`` SDK) and how to start them.

``stdio_server.py`` is started by gptcli itself (a profile's ``command``); ``http_server()``
runs ``http_server.py`` on a free loopback port for a ``url``. ``stdio_toml`` and
``http_toml`` write the ``[mcp.servers.NAME]`` tables that reach them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
STDIO_SERVER = HERE / "stdio_server.py"
HTTP_SERVER = HERE / "http_server.py"
TOKEN = "s3cret-bearer-token-for-the-tests"


def stdio_toml(name: str = "notes", *extra_args: str, **keys: object) -> str:
    """``[mcp.servers.NAME]`` running stdio_server.py with this interpreter."""
    lines = [
        f"[mcp.servers.{name}]",
        f"command = {json.dumps(sys.executable)}",
        f"args = {json.dumps([str(STDIO_SERVER), *extra_args])}",
    ]
    lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def http_toml(name: str, url: str, *, token: str | None = TOKEN, **keys: object) -> str:
    """``[mcp.servers.NAME]`` for the HTTP server, its token from a ``headers_cmd``."""
    lines = [f"[mcp.servers.{name}]", f"url = {json.dumps(url)}"]
    if token:
        cmd = [sys.executable, "-c", f"print('Bearer {token}')"]
        lines.append(f"headers_cmd = {{ Authorization = {json.dumps(cmd)} }}")
    lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def _toml(v: object) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(token: str | None = TOKEN, log: Path | None = None) -> Iterator[str]:
    """http_server.py on 127.0.0.1 (a free port) until the block ends: yields its ``/mcp`` URL."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    args = [sys.executable, str(HTTP_SERVER), str(port), *([token] if token else [])]
    proc = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"http_server.py exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]
