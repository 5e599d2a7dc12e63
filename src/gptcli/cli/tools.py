"""``gptcli tools list``: the MCP servers' tools a profile can hand a model (issue 20)."""

import sys
from typing import Annotated

import typer

from ..completions import complete_server
from . import app
from .options import ProfileOpt

tools_app = typer.Typer(
    help="The tools of the MCP servers a profile declares (alone: list them).",
    invoke_without_command=True,
    epilog="""Examples:

  gptcli tools list -p dev

  gptcli tools list -p dev --json | jq -r '.[].qualified'
""",
)
app.add_typer(tools_app, name="tools")

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="A JSON list: server, name, qualified, description, input_schema, enabled, allowed."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="A failing server's stderr (its last lines).")]


@tools_app.callback()
def _tools(ctx: typer.Context, profile: ProfileOpt = None) -> None:
    """List the MCP servers' tools; `gptcli tools` alone lists them."""
    ctx.meta["tools_profile"] = profile  # `gptcli tools -p dev list` as `gptcli tools list -p dev`
    if ctx.invoked_subcommand is None:
        tools_list(ctx, servers=None, profile=profile, json_out=False, verbose=False)


@tools_app.command(
    "list",
    epilog="""Examples:

  gptcli tools list -p dev

  gptcli tools list -p dev --json | jq -r '.[] | select(.allowed) | .qualified'

  gptcli tools list -p dev fs        # only the fs server (the others are not started)

\b
Exit codes: 0 every server listed; 3, 4 or 6 a server did not start (its error on stderr,
the other servers' tools still listed: 3 its command, 4 its credentials, 6 it failed or hung);
3 a broken profile.
""",
)
def tools_list(
    ctx: typer.Context,
    servers: Annotated[
        list[str] | None,
        typer.Argument(
            help="Only these servers (default: every one).", metavar="SERVER", autocompletion=complete_server
        ),
    ] = None,
    profile: ProfileOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """List every tool of every MCP server in the profile, with its description."""
    from .. import profiles, render
    from ..tools.listing import list_tools

    prof = profiles.resolve(profile or ctx.meta.get("tools_profile"))
    listing = list_tools(prof, servers or None)
    if json_out:
        render.print_json(listing.tools)
    elif listing.tools:
        render.print_table(
            ["tool", "runs", "description"],
            [[t["qualified"], _runs(t), _first_line(t["description"])] for t in listing.tools],
            title=f"tools of profile {prof.name}",
        )
    if not listing.servers:
        render.Status().warn(f"profile {prof.name!r} declares no MCP servers (add [mcp.servers.NAME]: see the README)")
    for err in listing.failures:
        render.print_error(err)
        if verbose and (detail := render.detail_text(err)):
            print(detail, file=sys.stderr)
    if listing.failures:
        raise typer.Exit(int(listing.failures[0].exit_code))


def _runs(tool: dict) -> str:
    if not tool["enabled"]:
        return "off"  # not sent unless named with --tools
    return "allowed" if tool["allowed"] else "asks"


def _first_line(text: str, limit: int = 120) -> str:
    """A description's first line, without escape sequences: a server's text is untrusted."""
    from ..printable import clean

    line = next((x.strip() for x in clean(text, keep_newlines=True).splitlines() if x.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
