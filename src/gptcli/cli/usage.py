"""``gptcli usage``: spend from the log, by day, model, profile or tag."""

from typing import Annotated

import typer

from . import app


@app.command(
    epilog="""Examples:

  gptcli usage

  gptcli usage --by model --since 7d

  gptcli usage --by tag --since 2026-11-01 --json | jq .total.cost

"cost" is what the replies cost (from the server's usage, or counted when a server
sends none: "estimated"); "estimate" is the preflight's worst case for the same replies,
so the two side by side show how far the estimates are from the bills. Days are UTC.
"""
)
def usage(
    by: Annotated[str, typer.Option("--by", help="Group by day, model, profile or tag.")] = "day",
    since: Annotated[
        str | None, typer.Option("--since", help="From this long ago (7d, 12h) or this date (2026-11-01).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object: rows and total.")] = False,
) -> None:
    """Spend from the conversation log: cost, estimates, tokens, requests and failures."""
    from .. import render
    from ..usage import report

    rep = report(by, since)
    if json_out:
        render.print_json(rep.to_dict())
        return
    rows = [
        [
            "".join(ch if ch.isprintable() else "?" for ch in r.key),  # a model name from a server's reply
            f"{r.requests:,}",
            f"{r.failures:,}",
            f"{r.prompt_tokens:,}",
            f"{r.completion_tokens:,}",
            render.usd(r.cost) + (" *" if r.estimated else ""),
            render.usd(r.estimate),
        ]
        for r in (*rep.rows, rep.total)
    ]
    render.print_table([by, "requests", "failed", "tokens in", "tokens out", "cost", "estimate (max)"], rows)
