"""Where gptcli keeps things, and what it reads from the environment.

Everything is computed when called, never at import, so tests (and users) can move
every directory with ``GPTCLI_HOME`` or the XDG variables at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "gptcli"


def _home_override() -> Path | None:
    home = os.environ.get("GPTCLI_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    """User profiles live in ``config_dir()/profiles``."""
    if (home := _home_override()) is not None:
        return home / "config"
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """Conversations and input history."""
    if (home := _home_override()) is not None:
        return home / "data"
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP, appauthor=False))


def cache_dir() -> Path:
    if (home := _home_override()) is not None:
        return home / "cache"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP, appauthor=False))


def user_profiles_dir() -> Path:
    return config_dir() / "profiles"


def conversations_dir() -> Path:
    return data_dir() / "conversations"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` 0700, and its missing parents 0700 too; tighten ``path`` if it exists.

    ``mkdir(parents=True)`` would give the parents the umask's mode (0777 under umask 0,
    letting anyone swap the dir below); the XDG base-dir spec asks for 0700.
    """
    try:
        missing = []
        p = path
        while not p.is_dir() and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir(mode=0o700, exist_ok=True)
    except OSError as e:  # GPTCLI_HOME names a file, a read-only disk...
        from .errors import ConfigError

        hint = "check GPTCLI_HOME and the XDG_* variables"
        raise ConfigError(f"cannot create {path}: {e.strerror}", hint=hint) from None
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


def env(name: str) -> str | None:
    """An environment variable, with empty values treated as unset."""
    value = os.environ.get(name)
    return value if value else None
