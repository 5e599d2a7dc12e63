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

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from . import settings
from .errors import ConfigError, NotFoundError, UsageError
from .models import Price, Profile

# The keys and their validators are in profile_keys.py; these names stay importable from here.
from .profile_keys import ALIASES as ALIASES
from .profile_keys import MAX_STOP as MAX_STOP
from .profile_keys import PROFILE_KEYS as PROFILE_KEYS
from .profile_keys import REASONING_EFFORTS as REASONING_EFFORTS
from .profile_keys import VALIDATORS as VALIDATORS
from .profile_keys import _string
from .profile_keys import validate as validate
from .tools import config as tools_config

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

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
