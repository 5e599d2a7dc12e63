"""The keys a profile takes and how each value is checked: ``VALIDATORS`` (key -> validator), ``validate``.

A validator returns the value as the ``Profile`` holds it, or raises ValueError saying what
is wrong (``profiles`` adds the file and the key). ``ALIASES`` are other spellings of a key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from .models import Price, Profile
from .tools import config as tools_config

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
