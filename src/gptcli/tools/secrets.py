"""The values of an MCP server's ``env_cmd`` and ``headers_cmd``: each command run once, when
the server starts, its first output line taken, never shown (not in an error line, the log
or ``--json``), as ``api_key_cmd`` is."""

from __future__ import annotations

import subprocess

from ..errors import AuthError, ConfigError
from .config import ServerConfig

COMMAND_TIMEOUT = 30.0


def resolved(server: ServerConfig) -> tuple[dict[str, str], dict[str, str]]:
    """The server's ``env`` and ``headers`` with the values its commands print filled in."""
    env = dict(server.env)
    for name, cmd in server.env_cmd.items():
        env[name] = _run(cmd, f"MCP server {server.name!r}: env_cmd {name}")
    headers = dict(server.headers)
    for name, cmd in server.headers_cmd.items():
        headers[name] = _run(cmd, f"MCP server {server.name!r}: headers_cmd {name}")
    return env, headers


def _run(cmd: tuple[str, ...], where: str) -> str:
    shown = cmd[0]  # the program only: its arguments may name the secret
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, timeout=COMMAND_TIMEOUT, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ConfigError(f"{where}: command not found: {shown}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where}: {shown} did not finish in {COMMAND_TIMEOUT:g} s") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot run {shown}: {e.strerror}") from None
    if done.returncode != 0:
        # Its stderr is not shown: a password manager may print anything there.
        raise AuthError(f"{where}: {shown} exited with {done.returncode}")
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    value = lines[0].strip() if lines else ""
    if not value:
        raise AuthError(f"{where}: {shown} printed nothing")
    if not value.isprintable():
        raise AuthError(f"{where}: {shown} printed control characters")
    return value
