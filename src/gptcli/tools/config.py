"""The profile keys of tools (issue 20): ``[mcp.servers.NAME]`` and ``[tools]``.

Checked when a profile is read (``parse_mcp``, ``parse_tools``: ``profiles.VALIDATORS``
calls them, each mistake one ``ValueError`` line that profiles.py prefixes with the file,
the line and the key), merged over ``extends`` (``merge``), and turned into values for
a run (``servers``, ``tool_settings``). The Profile keeps them as plain tables, so
``profiles show``, the log and ``to_toml_table`` see data, with secrets redacted by
``Profile.settings()``.

A server is stdio (``command``, ``args``, ``env``, ``cwd``) or streamable HTTP (``url``,
``headers``); both take ``timeout`` (seconds per call). A secret comes from a command,
as ``api_key_cmd`` does: ``env_cmd = { TOKEN = "pass show gh" }``, ``headers_cmd =
{ Authorization = "..." }``; the command's first output line is the value, run when the
server starts, never shown.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..models import Profile

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RESULT_CHARS = 100_000
SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,48}$")  # no dots: "server.tool" splits at the first one
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110's token
STDIO_KEYS = ("command", "args", "env", "env_cmd", "cwd")
HTTP_KEYS = ("url", "headers", "headers_cmd")
SERVER_KEYS = (*STDIO_KEYS, *HTTP_KEYS, "timeout")
TOOLS_KEYS = ("allow", "enabled", "max_result_chars")


# --- checking the tables ------------------------------------------------------------


def parse_mcp(v: Any) -> dict[str, Any]:
    """``[mcp]``: ``{"servers": {NAME: {...}}}``, every server checked."""
    if not isinstance(v, dict):
        raise ValueError("must be a table: [mcp.servers.NAME] with command or url")
    unknown = sorted(set(v) - {"servers"})
    if unknown:
        raise ValueError(f"has an unknown key {unknown[0]!r} (servers go in [mcp.servers.NAME])")
    servers = v.get("servers", {})
    if not isinstance(servers, dict):
        raise ValueError("servers must be a table of [mcp.servers.NAME] tables")
    out: dict[str, Any] = {}
    for name, table in servers.items():
        if not SERVER_NAME.match(name):
            raise ValueError(f"server name {name!r}: letters, digits, '_' and '-' only (no dots), at most 48")
        try:
            out[name] = _server(table)
        except ValueError as e:
            raise ValueError(f"server {name!r}: {e}") from None
    return {"servers": out}


def _server(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError("must be a table with command (stdio) or url (streamable HTTP)")
    unknown = sorted(set(v) - set(SERVER_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(SERVER_KEYS)})")
    if ("command" in v) == ("url" in v):
        raise ValueError("needs exactly one of command (a stdio server) or url (a streamable-HTTP server)")
    kind_keys, other = (STDIO_KEYS, HTTP_KEYS) if "command" in v else (HTTP_KEYS, STDIO_KEYS)
    wrong = [k for k in other if k in v]
    if wrong:
        kind = "a stdio server (command)" if "command" in v else "an HTTP server (url)"
        raise ValueError(f"{wrong[0]!r} does not apply to {kind}")
    out: dict[str, Any] = {}
    for key in kind_keys:
        if key in v:
            out[key] = _CHECKS[key](v[key], key)
    if "timeout" in v:
        t = v["timeout"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 86400:
            raise ValueError("timeout must be a number of seconds, more than 0 (at most 86400)")
        out["timeout"] = float(t)
    return out


def _str(v: Any, key: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"{key} must be a non-empty string")
    return v


def _url(v: Any, key: str) -> str:
    from urllib.parse import urlsplit

    v = _str(v, key)
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018  (a bad port raises only when read)
    except ValueError:
        raise ValueError(f"{key} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an http:// or https:// URL with a host")
    return v


def _args(v: Any, key: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        raise ValueError(f'{key} must be a list of strings: ["-y", "some-server"]')
    return list(v)


def _strings(v: Any, key: str) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError(f'{key} must be a table of strings: {{ NAME = "value" }}')
    _names(v, key)
    return dict(v)


def _commands(v: Any, key: str) -> dict[str, list[str]]:
    if not isinstance(v, dict):
        raise ValueError(f'{key} must be a table of commands: {{ NAME = "pass show x" }}')
    _names(v, key)
    out = {}
    for name, cmd in v.items():
        if isinstance(cmd, str):
            try:
                parts = shlex.split(cmd)
            except ValueError as e:
                raise ValueError(f"{key} {name}: {e}") from None
        elif isinstance(cmd, list) and all(isinstance(p, str) for p in cmd):
            parts = list(cmd)
        else:
            raise ValueError(f"{key} {name} must be a command string or a list of strings")
        if not parts:
            raise ValueError(f"{key} {name} must not be empty")
        out[name] = parts
    return out


def _names(v: dict[str, Any], key: str) -> None:
    header = key.startswith("headers")
    for name, value in v.items():
        if header and not _HEADER_NAME.match(name):
            raise ValueError(f"{key}: {name!r} is not a valid header name (letters, digits and -, no spaces)")
        if not header and not _ENV_NAME.match(name):
            raise ValueError(f"{key}: {name!r} is not an environment variable name")
        if isinstance(value, str) and any(c in value for c in "\r\n\x00"):
            raise ValueError(f"{key}: the value of {name} cannot contain a line break")


_CHECKS = {
    "command": _str,
    "args": _args,
    "env": _strings,
    "env_cmd": _commands,
    "cwd": _str,
    "url": _url,
    "headers": _strings,
    "headers_cmd": _commands,
}


def parse_tools(v: Any) -> dict[str, Any]:
    """``[tools]``: ``allow`` and ``enabled`` (lists of patterns), ``max_result_chars``."""
    if not isinstance(v, dict):
        raise ValueError('must be a table: [tools] with allow = ["fs.read_file", "fs.*"]')
    unknown = sorted(set(v) - set(TOOLS_KEYS))
    if unknown:
        raise ValueError(f"has an unknown key {unknown[0]!r} (known: {', '.join(TOOLS_KEYS)})")
    out: dict[str, Any] = {}
    for key in ("allow", "enabled"):
        if key in v:
            out[key] = [check_pattern(p, key) for p in _pattern_list(v[key], key)]
    if "max_result_chars" in v:
        n = v["max_result_chars"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 100:
            raise ValueError("max_result_chars must be a whole number, at least 100")
        out["max_result_chars"] = n
    return out


def _pattern_list(v: Any, key: str) -> list[Any]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise ValueError(f'{key} must be a list of tool patterns: ["fs.read_file", "fs.*"]')
    return v


def check_pattern(p: Any, key: str = "pattern") -> str:
    """A tool pattern: ``server.tool``, ``server.*``, ``*`` or a server's name alone (all its tools)."""
    if not isinstance(p, str) or not p.strip() or any(c.isspace() or not c.isprintable() for c in p):
        raise ValueError(f"{key}: {p!r} is not a tool pattern (SERVER.TOOL, SERVER.* or SERVER, no spaces)")
    server = p.split(".", 1)[0]
    if not (server == "*" or SERVER_NAME.match(server) or any(c in server for c in "*?[")):
        raise ValueError(f"{key}: {p!r} does not start with a server name")
    return p


def merge(key: str, base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``extends``: a profile's server replaces the parent's of that name; its [tools] keys replace the parent's."""
    if key == "mcp":
        return {"servers": {**base.get("servers", {}), **top.get("servers", {})}}
    return {**base, **top}


# --- values for a run ----------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """One ``[mcp.servers.NAME]``, checked; secrets from commands are not run yet (``secret_values``)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    env_cmd: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    headers_cmd: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timeout: float | None = None  # per call (and for the start); None: the caller's, DEFAULT_TIMEOUT

    @property
    def start_timeout(self) -> float:
        return self.timeout or DEFAULT_TIMEOUT

    @property
    def kind(self) -> str:
        return "stdio" if self.command else "http"

    @property
    def shown(self) -> str:
        """What it is, safe to show: the command's program, or the URL with any password redacted."""
        from ..models import redact_url

        return f"command {self.command}" if self.command else f"url {redact_url(self.url or '')}"

    @classmethod
    def from_table(cls, name: str, t: dict[str, Any]) -> ServerConfig:
        return cls(
            name=name,
            command=t.get("command"),
            args=tuple(t.get("args", ())),
            env=dict(t.get("env", {})),
            env_cmd={k: tuple(c) for k, c in t.get("env_cmd", {}).items()},
            cwd=t.get("cwd"),
            url=t.get("url"),
            headers=dict(t.get("headers", {})),
            headers_cmd={k: tuple(c) for k, c in t.get("headers_cmd", {}).items()},
            timeout=float(t["timeout"]) if "timeout" in t else None,
        )


@dataclass(frozen=True)
class ToolSettings:
    """``[tools]`` for a run: what runs without asking, what is sent by default, the result limit."""

    allow: tuple[str, ...] = ()
    enabled: tuple[str, ...] | None = None  # None: every declared server's tools
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS

    def is_allowed(self, qualified: str) -> bool:
        return matches_any(qualified, self.allow)

    def is_enabled(self, qualified: str) -> bool:
        return self.enabled is None or matches_any(qualified, self.enabled)


def servers(profile: Profile) -> list[ServerConfig]:
    """The profile's MCP servers, in the order declared."""
    table = getattr(profile, "mcp", None) or {}
    return [ServerConfig.from_table(n, t) for n, t in table.get("servers", {}).items()]


def tool_settings(profile: Profile) -> ToolSettings:
    """The profile's ``[tools]``; a pattern in ``enabled`` that names no declared server is a ConfigError."""
    t = getattr(profile, "tools", None) or {}
    names = [s.name for s in servers(profile)]
    enabled = t.get("enabled")
    for p in enabled or ():
        server = p.split(".", 1)[0]
        if not any(c in server for c in "*?[") and server not in names:
            where = profile.sources.get("tools", f"profile {profile.name!r}")
            known = ", ".join(names) or "none declared"
            raise ConfigError(f"{where}: [tools] enabled: {p!r} names no MCP server (known: {known})")
    return ToolSettings(
        allow=tuple(t.get("allow", ())),
        enabled=tuple(enabled) if enabled is not None else None,
        max_result_chars=t.get("max_result_chars", DEFAULT_MAX_RESULT_CHARS),
    )


def matches(qualified: str, pattern: str) -> bool:
    """``fs.read_file`` against ``fs.read_file``, ``fs.*``, ``fs`` (the whole server) or ``*``."""
    if "." not in pattern and not any(c in pattern for c in "*?["):
        pattern += ".*"
    return fnmatch.fnmatchcase(qualified, pattern)


def matches_any(qualified: str, patterns: Sequence[str]) -> bool:
    return any(matches(qualified, p) for p in patterns)


def server_may_match(server: str, patterns: Sequence[str]) -> bool:
    """Whether some tool of ``server`` could match one of ``patterns`` (which servers to start)."""
    return any(fnmatch.fnmatchcase(server, p.split(".", 1)[0]) for p in patterns)
