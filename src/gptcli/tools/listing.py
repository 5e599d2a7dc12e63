"""``gptcli tools list``: every tool of every MCP server a profile declares (the use case).

Every server is started (in parallel), listed and stopped; one that fails is reported in
``failures`` while the others are still listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GptcliError, UsageError
from .config import servers, tool_settings
from .mcp import McpToolbox

if TYPE_CHECKING:
    from ..models import Profile


@dataclass(frozen=True)
class Listing:
    servers: list[str]
    tools: list[dict[str, Any]] = field(default_factory=list)  # the --json rows
    failures: list[GptcliError] = field(default_factory=list)


def list_tools(profile: Profile, only: list[str] | None = None) -> Listing:
    """The tools of each server (``only`` these), in the order the profile declares the servers."""
    ts = tool_settings(profile)
    configs = servers(profile)
    if only:
        names = [c.name for c in configs]
        unknown = [n for n in only if n not in names]
        if unknown:
            known = ", ".join(names) or "none"
            raise UsageError(f"profile {profile.name!r} has no MCP server {unknown[0]!r} (known: {known})")
        configs = [c for c in configs if c.name in only]
    rows: list[dict[str, Any]] = []
    failures: list[GptcliError] = []
    with McpToolbox(configs, max_result_chars=ts.max_result_chars) as box:
        box.start()
        for name in box.names:
            if name in box.errors:
                failures.append(box.errors[name])
                continue
            for spec in box.server_specs(name):
                rows.append(
                    {
                        "server": spec.server,
                        "name": spec.name,
                        "qualified": spec.qualified,
                        "description": spec.description,
                        "input_schema": spec.input_schema,
                        "enabled": ts.is_enabled(spec.qualified),
                        "allowed": ts.is_allowed(spec.qualified),
                    }
                )
    return Listing([c.name for c in configs], rows, failures)
