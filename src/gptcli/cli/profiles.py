"""``gptcli profiles list|show|new``: the TOML profiles, built-in and the user's."""

from typing import Annotated, Any

import typer

from ..completions import complete_profile
from . import app
from .options import BaseUrlOpt, MaxTokOpt, ModelOpt, SystemOpt, TempOpt, TopPOpt

profiles_app = typer.Typer(
    help="List, show and create TOML profiles (alone: list them).",
    invoke_without_command=True,
    epilog="""Examples:

  gptcli profiles list

  gptcli profiles show coder

  gptcli profiles new mycoder --from coder -m gpt-4o
""",
)
app.add_typer(profiles_app, name="profiles")


@profiles_app.callback()
def _profiles(ctx: typer.Context) -> None:
    """List, show and create TOML profiles; `gptcli profiles` alone lists them."""
    if ctx.invoked_subcommand is None:
        profiles_list(json_out=False)


@profiles_app.command(
    "list",
    epilog="""Examples:

  gptcli profiles list

  gptcli profiles list --json | jq -r '.[] | select(.source == "user") | .path'
""",
)
def profiles_list(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """List built-in and user profiles: name, model, source and description (a broken one with its error)."""
    from .. import profile_list, render

    rows = profile_list.rows()
    if json_out:
        render.print_json(rows)
    else:
        render.print_table(
            ["name", "model", "source", "description"],
            [
                [
                    r["name"],
                    "-" if r["error"] else r["model"] or "(default)",
                    r["source"],
                    f"error: {r['error']}" if r["error"] else r["description"] or "",
                ]
                for r in rows
            ],
        )
    broken = [r["name"] for r in rows if r["error"]]
    if broken:  # said on stderr too: a script reading the JSON or the TSV may not look at every row
        render.Status().warn(f"{len(broken)} broken profile(s): {', '.join(broken)} (see their error)")


@profiles_app.command(
    "show",
    epilog="""Examples:

  gptcli profiles show coder

  GPTCLI_MODEL=gpt-4o gptcli profiles show

  gptcli profiles show local --json | jq -r .settings.base_url

  gptcli profiles show review    # its prompt template and the variables it takes
""",
)
def profiles_show(
    name: Annotated[
        str | None,
        typer.Argument(help="Profile name (default: the active one).", metavar="NAME", autocompletion=complete_profile),
    ] = None,
    model: ModelOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Show a profile's effective settings and where each one came from."""
    from .. import client, profiles, render
    from ..template import variables

    prof = profiles.resolve(name, {"model": model})
    settings = prof.settings()
    sources = dict(prof.sources)
    if prof.family is None:  # the row of the rules table the model name picks (docs/model-families.md)
        settings["family"] = client.rule_for_profile(prof).family
        sources["family"] = "the model name" if prof.reasoning is None else "reasoning"
    found = variables(prof.prompt, prof.vars)
    if json_out:
        render.print_json({"name": prof.name, "settings": settings, "sources": sources, "variables": found})
        return
    rows = [[k, render.dumps_json(v, indent=None), sources.get(k, "default")] for k, v in settings.items()]
    render.print_table(["key", "value", "from"], rows, title=f"profile {prof.name}")
    if found:
        render.print_table(
            ["variable", "default", "set with"],
            [[v["name"], "(required)" if v["required"] else repr(v["default"]), v["from"]] for v in found],
            title=f"prompt variables of {prof.name}",
        )


@profiles_app.command(
    "new",
    epilog="""Examples:

  gptcli profiles new mycoder --from coder -m gpt-4o -t 0.3

  gptcli profiles new ollama --base-url http://localhost:11434/v1 -m qwen3

  gptcli profiles new terse -s "Answer in one sentence." --force
""",
)
def profiles_new(
    name: Annotated[str, typer.Argument(help="Name of the new profile.", metavar="NAME")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Profile to extend.", metavar="NAME", autocompletion=complete_profile)
    ] = None,
    model: ModelOpt = None,
    temperature: TempOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokOpt = None,
    system: SystemOpt = None,
    base_url: BaseUrlOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Create a user profile (TOML) in the config dir and print its path."""
    from .. import profiles

    table: dict[str, Any] = {"extends": from_} if from_ else {}
    if from_:
        profiles.find(from_)
    settings = {
        "model": model,
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "system": system,
        "base_url": base_url,
    }
    table.update({k: v for k, v in settings.items() if v is not None})
    print(profiles.write_user_profile(name, table, force=force))
