"""TOML profiles: finding, reading, merging and validating them into a frozen ``Profile``.

Precedence, lowest first: built-in defaults < the profile it ``extends`` < the
profile < environment (``GPTCLI_MODEL``, ``GPTCLI_BASE_URL``) < flags. A profile's
own ``base_url`` wins over ``OPENAI_BASE_URL``, which (as the SDK reads it) only
fills in when nothing else names a server: a profile that names a server, such as
``local``, must keep reaching it.

Built-in profiles ship inside the package (``gptcli/profiles``); a user profile of
the same name in ``config_dir()/profiles`` replaces it. Every error names the file
and the key (and for TOML syntax errors, the line) and exits 3.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from . import settings
from .errors import ConfigError, NotFoundError, UsageError
from .models import Price, Profile
from .tools import config as tools_config

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ALIASES = {"stop_sequences": "stop"}
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
MAX_STOP = 4


# --- validation ---------------------------------------------------------------


def _number(lo: float | None = None, hi: float | None = None) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError("must be a number")
        if not math.isfinite(v):  # nan passes every range check; inf is no timeout
            raise ValueError(f"must be a finite number, not {v}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}")
        return float(v)

    return check


def _integer(lo: int, hi: int | None = None) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("must be a whole number")
        if v < lo or (hi is not None and v > hi):
            raise ValueError(f"must be between {lo} and {hi}" if hi is not None else f"must be at least {lo}")
        return v

    return check


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


def _optional_string(v: Any) -> str | None:
    return _string(v) or None


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _stop(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise ValueError("must be a list of non-empty strings")
    if len(v) > MAX_STOP:
        raise ValueError(f"takes at most {MAX_STOP} sequences, got {len(v)}")
    return tuple(v)


def _tag_pair(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or len(v) != 2 or not all(isinstance(s, str) and s.strip() for s in v):
        raise ValueError('must be two non-empty strings, the opening and the closing tag: ["<think>", "</think>"]')
    return tuple(v)


def _effort(v: Any) -> str:
    if v not in REASONING_EFFORTS:
        raise ValueError(f"must be one of {', '.join(REASONING_EFFORTS)}")
    return str(v)


def _base_url(v: Any) -> str:
    v = _string(v)
    if not v.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018  (a bad port raises only when read)
    except ValueError as e:
        raise ValueError(f"is not a valid URL ({e})") from None
    if not parts.hostname:
        raise ValueError("has no host name")
    return v.rstrip("/")


def _env_name(v: Any) -> str:
    if not isinstance(v, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", v):
        raise ValueError("must be an environment variable name")
    return v


def _command(v: Any) -> tuple[str, ...]:
    import shlex

    if isinstance(v, str):
        parts = shlex.split(v)
    elif isinstance(v, list) and all(isinstance(p, str) for p in v):
        parts = list(v)
    else:
        raise ValueError("must be a command string or a list of strings")
    if not parts:
        raise ValueError("must not be empty")
    return tuple(parts)


def _price(v: Any) -> Price:
    if not isinstance(v, dict):
        raise ValueError("must be a table with input, cached_input and output (USD per 1M tokens)")
    unknown = set(v) - {"input", "cached_input", "output"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: input, cached_input, output)")
    check = _number(0)
    out = {}
    for k, x in v.items():
        try:
            out[k] = check(x)
        except ValueError as e:
            raise ValueError(f"{k} {e}") from None  # names the sub-key: 'price' input must be a number
    return Price(**out)


def _table(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError("must be a table")
    return dict(v)


# RFC 9110's token: what a header name may be made of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _headers(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError("must be a table of strings")
    for name, value in v.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name (letters, digits and -, no spaces)")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError(f"{name!r}: a header value cannot contain a line break")
    return dict(v)


def _prompt(v: Any) -> str | None:
    from . import template

    v = _string(v)
    try:
        return template.check(v) or None
    except template.TemplateError as e:
        raise ValueError(f"is not a valid template: {e}") from None


def _vars(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError('must be a table of strings (NAME = "value")')
    bad = [k for k in v if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", k) or k == "input"]
    if bad:
        raise ValueError(f"has a bad name {bad[0]!r} (letters, digits, _ and -; 'input' is the input's)")
    return dict(v)


def _budget(v: Any) -> str:
    from .ledger import parse_budget

    if not isinstance(v, str):
        raise ValueError("must be a string like '5/day'")
    parse_budget(v)
    return v.strip()


def _token_param(v: Any) -> str:
    if v not in ("max_tokens", "max_completion_tokens"):
        raise ValueError("must be 'max_tokens' or 'max_completion_tokens'")
    return str(v)


def _family(v: Any) -> str:
    from . import client

    names = client.family_names()
    if v not in names:
        raise ValueError(f"must be one of: {', '.join(repr(n) for n in names)}")
    return str(v)


_MODALITIES = ("text", "image", "pdf", "audio")


def _modalities(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x in _MODALITIES for x in v):
        raise ValueError(f"must be a list of: {', '.join(repr(m) for m in _MODALITIES)}")
    return tuple(v)


def _backend(v: Any) -> str:
    from . import backends

    if v not in backends.names():
        raise ValueError(f"must be one of: {', '.join(backends.names())}")
    return str(v)


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "model": _string,
    "description": _optional_string,
    "backend": _backend,
    "base_url": _base_url,
    "api_key_env": _env_name,
    "api_key_cmd": _command,
    "system": _optional_string,
    "prompt": _prompt,
    "vars": _vars,
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "max_tokens": _integer(1),
    "n": _integer(1, 128),
    "stop": _stop,
    "seed": _integer(-(2**63), 2**63 - 1),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "reasoning_effort": _effort,
    "parse_reasoning_tags": _boolean,
    "reasoning_tags": _tag_pair,
    "show_reasoning": _boolean,
    "timeout": _number(0.001),
    "connect_timeout": _number(0.001),
    "deadline": _number(0.001),
    "max_retries": _integer(0, 20),
    "price": _price,
    "context_window": _integer(1),
    "max_output_tokens": _integer(1),
    "budget": _budget,
    "encoding": _string,
    "include_usage": _boolean,
    "token_limit_param": _token_param,
    "reasoning": _boolean,
    "family": _family,
    "modalities": _modalities,
    "params": _table,
    "headers": _headers,
    "mcp": tools_config.parse_mcp,
    "tools": tools_config.parse_tools,
}
PROFILE_KEYS = frozenset(VALIDATORS) | {"extends"}
assert PROFILE_KEYS - {"extends"} <= {f.name for f in fields(Profile)}


def validate(key: str, value: Any) -> Any:
    """Check one setting; raises ValueError with what is wrong."""
    key = ALIASES.get(key, key)
    if key not in VALIDATORS:
        raise KeyError(key)
    return VALIDATORS[key](value)


# --- finding and reading -------------------------------------------------------


@dataclass(frozen=True)
class ProfileFile:
    name: str
    path: Path
    builtin: bool


def builtin_dir() -> Path:
    """The built-in profiles: inside the installed package, or the repo's ``profiles/`` in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "profiles"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "profiles"


def _scan(directory: Path, builtin: bool) -> Iterator[ProfileFile]:
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.toml")):
        if NAME_RE.match(path.stem):
            yield ProfileFile(path.stem, path, builtin)


def available() -> dict[str, ProfileFile]:
    """Every profile by name; user profiles replace built-ins of the same name."""
    found = {p.name: p for p in _scan(builtin_dir(), True)}
    found.update({p.name: p for p in _scan(settings.user_profiles_dir(), False)})
    return found


def find(name: str) -> ProfileFile:
    if not NAME_RE.match(name):
        raise UsageError(f"not a profile name: {name!r}", hint="letters, digits, '.', '_' and '-'")
    user = settings.user_profiles_dir() / f"{name}.toml"
    if user.is_file():
        return ProfileFile(name, user, False)
    builtin = builtin_dir() / f"{name}.toml"
    if builtin.is_file():
        return ProfileFile(name, builtin, True)
    known = ", ".join(sorted(available())) or "none"
    raise NotFoundError(f"unknown profile {name!r} (known: {known})", hint="see: gptcli profiles list")


def display_path(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def read_file(pf: ProfileFile) -> dict[str, tuple[Any, str]]:
    """A profile file's own keys, validated: key -> (value, "file:line")."""
    where = display_path(pf.path)
    try:
        text = pf.path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: invalid TOML: {e}") from None
    lines = text.splitlines()
    out: dict[str, tuple[Any, str]] = {}
    for raw_key, value in data.items():
        key = ALIASES.get(raw_key, raw_key)
        line = _line_of(lines, raw_key)
        loc = f"{where}:{line}" if line else where
        if key not in PROFILE_KEYS:
            close = _suggest(raw_key)
            raise ConfigError(f"{loc}: unknown key {raw_key!r}" + (f" (did you mean {close!r}?)" if close else ""))
        if key == "extends":
            try:
                out[key] = (_string(value), loc)
            except ValueError as e:
                raise ConfigError(f"{loc}: 'extends' {e}") from None
            continue
        try:
            out[key] = (validate(key, value), loc)
        except ValueError as e:
            raise ConfigError(f"{loc}: {raw_key!r} {e}") from None
    return out


def _line_of(lines: list[str], key: str) -> int | None:
    pattern = re.compile(rf"^\s*(\[\s*)?[\"']?{re.escape(key)}[\"']?\s*(=|\]|\.)")
    for i, line in enumerate(lines, start=1):
        if pattern.match(line):
            return i
    return None


def _suggest(key: str) -> str | None:
    import difflib

    match = difflib.get_close_matches(key, sorted(PROFILE_KEYS | set(ALIASES)), n=1)
    return match[0] if match else None


def _merge(base: dict[str, tuple[Any, str]], top: dict[str, tuple[Any, str]]) -> dict[str, tuple[Any, str]]:
    out = dict(base)
    for key, (value, src) in top.items():
        if key in ("params", "headers", "vars") and key in out:
            merged = dict(out[key][0])
            merged.update(value)
            out[key] = (merged, src)
        elif key in ("mcp", "tools") and key in out:
            out[key] = (tools_config.merge(key, out[key][0], value), src)
        elif key == "price" and key in out:
            old: Price = out[key][0]
            new = Price(**{f.name: getattr(value, f.name) or getattr(old, f.name) for f in fields(Price)})
            out[key] = (new, src)
        else:
            out[key] = (value, src)
    return out


def load_layers(name: str) -> dict[str, tuple[Any, str]]:
    """A profile merged over the chain it extends."""
    seen: list[str] = []
    layers: list[dict[str, tuple[Any, str]]] = []
    pf = find(name)
    while True:
        label = f"{pf.name}{' (built-in)' if pf.builtin else ''}"
        if label in seen:
            raise ConfigError(f"profile {name!r}: 'extends' loops: {' -> '.join([*seen, label])}")
        seen.append(label)
        data = read_file(pf)
        layers.append(data)
        if "extends" not in data:
            break
        parent, where = data["extends"]
        if parent == pf.name and not pf.builtin:
            # A user profile may extend the built-in it replaces.
            pf = ProfileFile(parent, builtin_dir() / f"{parent}.toml", True)
            if not pf.path.is_file():
                raise ConfigError(f"{where}: extends {parent!r}, but there is no built-in profile of that name")
        else:
            try:
                pf = find(parent)
            except NotFoundError as e:
                raise ConfigError(f"{where}: extends unknown profile {parent!r}") from e
    merged: dict[str, tuple[Any, str]] = {}
    for layer in reversed(layers):
        merged = _merge(merged, {k: v for k, v in layer.items() if k != "extends"})
    return merged


# --- resolving -------------------------------------------------------------------


def resolve(name: str | None = None, flags: Mapping[str, Any] | None = None) -> Profile:
    """The effective settings for a run, each remembering where it came from."""
    env_name = settings.env("GPTCLI_PROFILE")
    if name is None:
        name = env_name or "default"
    values = load_layers(name)
    for key, var in (("model", "GPTCLI_MODEL"), ("base_url", "GPTCLI_BASE_URL"), ("budget", "GPTCLI_BUDGET")):
        if (raw := settings.env(var)) is not None:
            try:
                values[key] = (validate(key, raw), f"env {var}")
            except ValueError as e:
                raise ConfigError(f"env {var}: {e}") from None
    for key, value in (flags or {}).items():
        if value is None:
            continue
        key = ALIASES.get(key, key)
        try:
            checked = validate(key, value)
        except ValueError as e:
            flag = "effort" if key == "reasoning_effort" else key.replace("_", "-")  # the flag's short name
            raise UsageError(f"--{flag}: {e}") from None
        if key == "params" and "params" in values:
            checked = {**values["params"][0], **checked}
        values[key] = (checked, "flag")
    if "base_url" not in values and (raw := settings.env("OPENAI_BASE_URL")) is not None:
        try:
            values["base_url"] = (validate("base_url", raw), "env OPENAI_BASE_URL")
        except ValueError as e:
            raise ConfigError(f"env OPENAI_BASE_URL: {e}") from None
    profile = Profile(name=name, **{k: v for k, (v, _) in values.items()})
    sources = {f.name: "default" for f in fields(Profile) if f.name not in ("name", "sources")}
    sources.update({k: src for k, (_, src) in values.items()})
    sources["name"] = "flag" if flags and flags.get("profile") else ("env GPTCLI_PROFILE" if env_name else "default")
    return replace(profile, sources=sources)


def to_toml_table(profile: Profile, keys: list[str] | None = None) -> dict[str, Any]:
    """Settings as a TOML-ready table (only set, non-default values unless ``keys`` are named)."""
    defaults = Profile()
    out: dict[str, Any] = {}
    for f in fields(Profile):
        if f.name in ("name", "sources"):
            continue
        value = getattr(profile, f.name)
        if keys is not None and f.name not in keys:
            continue
        if keys is None and value == getattr(defaults, f.name):
            continue
        if value is None:
            continue
        if isinstance(value, Price):
            value = {k: v for k, v in value.to_dict().items() if v is not None}
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def write_user_profile(name: str, table: dict[str, Any], *, force: bool = False) -> Path:
    """Write ``config_dir()/profiles/NAME.toml`` with tomli-w, atomically; never clobber without ``force``."""
    import tomli_w

    from .jsonl import atomic_write

    if not NAME_RE.match(name):
        raise UsageError(f"not a profile name: {name!r}", hint="letters, digits, '.', '_' and '-'")
    for key, value in table.items():
        if key == "extends":
            continue
        try:
            validate(key, value)
        except KeyError:
            raise UsageError(f"unknown profile key {key!r}") from None
        except ValueError as e:
            raise UsageError(f"{key}: {e}") from None
    directory = settings.user_profiles_dir()
    path = directory / f"{name}.toml"
    if path.exists() and not force:
        raise UsageError(f"{display_path(path)} exists", hint="use --force to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    # A key command, headers or MCP servers (their env) may carry a credential: then the file is the user's alone.
    private = bool(table.get("api_key_cmd") or table.get("headers") or table.get("mcp"))
    atomic_write(path, tomli_w.dumps(table), mode=0o600 if private else 0o644)
    return path
