"""Which tools a turn offers the model: ``--tools SERVER|SERVER.TOOL,...`` over the
toolbox's tools (every tool of the profile's servers when not given)."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import UsageError
from .base import ToolSpec
from .config import matches as matches_one


def names(values: Iterable[str] | None) -> list[str]:
    """``--tools`` values (repeatable, comma-separated) as one list of names."""
    return [part.strip() for v in values or () for part in v.split(",") if part.strip()]


def select(
    specs: Iterable[ToolSpec], wanted: list[str] | None, default: Iterable[str] | None = None
) -> tuple[ToolSpec, ...]:
    """The tools named by ``wanted`` (a server, a ``server.tool``, or a pattern of either), in
    the toolbox's order; a name that matches nothing is a UsageError. Without ``wanted``, the
    tools ``default`` matches (the profile's ``[tools] enabled``), or all of them."""
    specs = list(specs)
    if not wanted:
        patterns = list(default) if default is not None else None
        return tuple(s for s in specs if patterns is None or any(matches_one(s.qualified, p) for p in patterns))
    chosen: list[ToolSpec] = []
    for name in wanted:
        hits = [s for s in specs if matches_one(s.qualified, name)]
        if not hits:
            servers = sorted({s.server for s in specs})
            known = f"servers: {', '.join(servers)}" if servers else "the profile declares no MCP servers"
            raise UsageError(f"--tools: no server or tool named {name!r} ({known})", hint="gptcli tools list")
        chosen.extend(s for s in hits if s not in chosen)
    return tuple(s for s in specs if s in chosen)
