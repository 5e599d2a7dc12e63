"""``gptcli profiles list`` as values: every profile, a broken one included and marked.

The listing is the command a user runs to find the profile that breaks, so one broken
file (bad TOML, an unknown key, an ``extends`` that loops) must not break it: that
profile is listed with its one-line error, and the rest as usual.
"""

from __future__ import annotations

from typing import Any

from . import profiles
from .errors import ConfigError, UsageError


def rows() -> list[dict[str, Any]]:
    """One dict per profile: name, model, description, source, path, error (None when it loads)."""
    out: list[dict[str, Any]] = []
    for name, pf in sorted(profiles.available().items()):
        row: dict[str, Any] = {
            "name": name,
            "model": None,
            "description": None,
            "source": "built-in" if pf.builtin else "user",
            "path": str(pf.path),
            "error": None,
        }
        try:
            merged = profiles.load_layers(name)  # the whole extends chain: a loop or a bad parent shows here
            own = profiles.read_file(pf)
        except (ConfigError, UsageError) as e:
            row["error"] = str(e)
        else:
            row["model"] = merged.get("model", (None,))[0]
            row["description"] = own.get("description", (None,))[0]
        out.append(row)
    return out
