"""``gptcli models``: the server's models, with price and context window where known."""

from typing import Annotated

import typer

from . import app
from .options import BaseUrlOpt, ProfileOpt


@app.command(
    epilog="""Examples:

  gptcli models

  gptcli models -p local

  gptcli models gpt-5 --json | jq -r '.[] | select(.context_window > 200000) | .id'
"""
)
def models(
    contains: Annotated[
        str | None, typer.Argument(help="Only models whose id contains TEXT (any case).", metavar="TEXT")
    ] = None,
    profile: ProfileOpt = None,
    base_url: BaseUrlOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="A JSON list (id, context_window, price, ...).")] = False,
) -> None:
    """List the server's models, with price and context window where known."""
    from .. import catalog, profiles, render
    from ..backends import retry_notice

    prof = profiles.resolve(profile, {"base_url": base_url})
    with retry_notice.shown(render.Status()):
        rows = catalog.list_models(prof, contains)
    if json_out:
        render.print_json([r.to_dict() for r in rows])
        return

    def money(x: float | None) -> str:
        return "" if x is None else f"${x:g}"

    render.print_table(
        ["model", "context", "input $/1M", "output $/1M", "owned by"],
        [
            [
                r.id,
                f"{r.context_window:,}" if r.context_window else "",
                money(r.price.input if r.price else None),
                money(r.price.output if r.price else None),
                r.owned_by or "",
            ]
            for r in rows
        ],
        title=f"{len(rows)} models at {prof.shown_url}",
    )
