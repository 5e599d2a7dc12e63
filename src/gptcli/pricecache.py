"""A small on-disk cache of price lookups, so that ``ask`` does not load genai-prices' data.

genai-prices bundles its price data as a large Python module: importing it and matching
one model costs about 45 ms in a fresh process, a tenth of a short ``gptcli ask`` and
more than every other gptcli module together (profiled in docs/benchmarks.md). The
answer only changes when the package is upgraded or a dated price change takes effect,
so each answer is kept in ``cache_dir()/prices.json``, valid while the data file is the
same one (path, size, mtime) and the UTC date is the same day. Reading it is a few
hundred microseconds.

The cache is an optimisation, never a requirement: a missing, corrupt or stale file is
ignored and rewritten, and failing to write it is silent. Values are whatever JSON the
caller stores (``tokens`` stores its lookup result, or None for an unknown model).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import settings

FILE = "prices.json"
VERSION = 1
MAX_ENTRIES = 512  # past this, start again: models looked up are few, names from typos many

MISSING: Any = object()
_memory: dict[str, Any] = {}  # this process: the second lookup of a turn costs nothing
_loaded: dict[str, Any] | None = None


def _path() -> Path:
    return settings.cache_dir() / FILE


def data_identity() -> str:
    """Which price data answers would come from, without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec("genai_prices")
        origin = spec.origin if spec is not None else None
        if origin is None:
            return "genai-prices:absent"
        data = Path(origin).with_name("data.py")
        st = data.stat() if data.exists() else Path(origin).stat()
        return f"{data}:{st.st_size}:{st.st_mtime_ns}"
    except (ImportError, ValueError, OSError):
        return "genai-prices:unknown"


def _stamp() -> str:
    # Dated price changes take effect by day; a new day re-checks.
    return f"{data_identity()}|{datetime.now(UTC).date().isoformat()}"


def _load() -> dict[str, Any]:
    global _loaded
    if _loaded is not None:
        return _loaded
    stamp = _stamp()
    entries: dict[str, Any] = {}
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("v") == VERSION and data.get("stamp") == stamp:
            found = data.get("entries")
            if isinstance(found, dict):
                entries = found
    except (OSError, ValueError):
        pass
    _loaded = {"stamp": stamp, "entries": entries}
    return _loaded


def get(key: str) -> Any:
    """The cached value for ``key`` (None is a value: "unknown model"), or MISSING."""
    if key in _memory:
        return _memory[key]
    value = _load()["entries"].get(key, MISSING)
    if value is not MISSING:
        _memory[key] = value
    return value


def put(key: str, value: Any) -> None:
    """Remember ``value`` (JSON-able) for ``key``, here and on disk; never raises."""
    _memory[key] = value
    state = _load()
    entries = state["entries"]
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    entries[key] = value
    try:
        from .jsonl import atomic_write_text

        text = json.dumps({"v": VERSION, "stamp": state["stamp"], "entries": entries}, ensure_ascii=False)
        path = _path()
        settings.ensure_private_dir(path.parent)
        atomic_write_text(path, text)
    except (OSError, TypeError, ValueError):
        pass


def clear_memory() -> None:
    """Forget what this process has read (tests that change GPTCLI_HOME or the clock)."""
    global _loaded
    _memory.clear()
    _loaded = None
