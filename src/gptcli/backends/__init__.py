"""The backends a profile's ``backend`` key can name, each loaded only when used.

``openai`` is the only one a user can choose. Tests that run the CLI in-process may
add one for the length of a ``with registered(name, backend):`` block (the memory
backend); a use case called directly takes a backend object instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..backend import Backend

# name -> the module that defines ``BACKEND``: imported on first use, so --help stays light.
BUILTIN = {"openai": "gptcli.backends.openai"}
_extra: dict[str, Backend] = {}


def names() -> tuple[str, ...]:
    """The names a profile may give as ``backend`` (profiles.py validates against it)."""
    return (*BUILTIN, *_extra)


def load(name: str) -> Backend:
    if name in _extra:
        return _extra[name]
    if name not in BUILTIN:
        raise ConfigError(f"unknown backend {name!r} (known: {', '.join(names())})")
    backend: Backend = importlib.import_module(BUILTIN[name]).BACKEND
    return backend


@contextmanager
def registered(name: str, backend: Backend) -> Iterator[Backend]:
    """Make ``backend = "<name>"`` select ``backend`` inside the block (tests only)."""
    if name in BUILTIN:
        raise ValueError(f"{name!r} is a built-in backend")
    _extra[name] = backend
    try:
        yield backend
    finally:
        _extra.pop(name, None)
