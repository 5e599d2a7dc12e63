"""Where a run's tools come from: the profile's MCP servers (``tools.mcp``), or, for a
re-run with ``--reuse-tool-results``, the conversation's log (``tools.recorded``).

``toolbox_for`` is the one place the tool loop asks for a profile's toolbox, so a test can
put a ``FunctionToolbox`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Profile
    from .base import Toolbox


def declares_tools(profile: Profile) -> bool:
    """Whether the profile declares any MCP server (then ask and chat offer its tools)."""
    table = getattr(profile, "mcp", None) or {}
    return bool(table.get("servers")) if isinstance(table, dict) else False


def toolbox_for(profile: Profile, select: Sequence[str] | None = None) -> Toolbox | None:
    """The profile's MCP servers as a Toolbox (none started yet), None when it declares none."""
    if not declares_tools(profile):
        return None
    try:
        from . import mcp  # type: ignore[attr-defined, unused-ignore]
    except ImportError:  # the MCP client is not part of this build
        return None
    return mcp.toolbox_for(profile, select)  # type: ignore[no-any-return, unused-ignore]


def allow_list(profile: Profile) -> tuple[str, ...]:
    """The profile's ``[tools] allow`` patterns."""
    table = getattr(profile, "tools", None) or {}
    allow = table.get("allow", ()) if isinstance(table, dict) else ()
    return tuple(str(p) for p in allow)
