"""Where a run's tools come from: the profile's MCP servers (``tools.mcp``), or, for a
re-run with ``--reuse-tool-results``, the conversation's log (``tools.recorded``).

``toolbox_for`` is the one place the tool loop asks for a profile's toolbox, so a test can
put a ``FunctionToolbox`` there. The MCP SDK is imported only when a server is declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config import servers, tool_settings

if TYPE_CHECKING:
    from ..models import Profile
    from .base import Toolbox


def declares_tools(profile: Profile) -> bool:
    """Whether the profile declares any MCP server (then ask and chat offer its tools)."""
    return bool(servers(profile))


def toolbox_for(profile: Profile, select: Sequence[str] | None = None) -> Toolbox | None:
    """The profile's MCP servers as a Toolbox (none started yet), None when it declares none."""
    if not declares_tools(profile):
        return None
    from . import mcp

    return mcp.toolbox_for(profile, select)


def allow_list(profile: Profile) -> tuple[str, ...]:
    """The profile's ``[tools] allow`` patterns."""
    return tool_settings(profile).allow


def enabled(profile: Profile) -> tuple[str, ...] | None:
    """The profile's ``[tools] enabled`` patterns (None: every tool of every server)."""
    return tool_settings(profile).enabled


def result_limit(profile: Profile) -> int:
    """The profile's ``[tools] max_result_chars``: how much of a result the model reads."""
    return int(tool_settings(profile).max_result_chars)
