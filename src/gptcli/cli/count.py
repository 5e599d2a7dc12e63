"""``gptcli count``: tokens and input cost of text, files, a chat request or a saved conversation."""

from pathlib import Path
from typing import Annotated, Any

import typer

from ..completions import complete_conversation
from . import app
from .options import AttachOpt, DetailOpt, ModelOpt, ProfileOpt, check_detail


@app.command(
    epilog="""Examples:

  gptcli count "你好，世界"

  gptcli count -m gpt-4o -f report.md -f notes.txt

  cat big.log | gptcli count -m gpt-4.1 --json

  gptcli count --messages chat.jsonl -m gpt-4o

  gptcli count -a photo.jpg -m gpt-4o "Describe"
"""
)
def count(
    text: Annotated[list[str] | None, typer.Argument(help="Text to count.", metavar="TEXT")] = None,
    profile: ProfileOpt = None,
    model: ModelOpt = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="Count a file (repeatable).", metavar="FILE")
    ] = None,
    messages: Annotated[
        str | None,
        typer.Option(
            "--messages",
            help='A chat request: JSON list of messages or {"messages": [...]} lines; - for stdin.',
            metavar="FILE",
        ),
    ] = None,
    conversation_ref: Annotated[
        str | None,
        typer.Option(
            "--conversation",
            help="Count what the next turn of this saved conversation sends.",
            metavar="ID",
            autocompletion=complete_conversation,
        ),
    ] = None,
    attach: AttachOpt = None,
    detail: DetailOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Count tokens and the input cost before any call: exact, with tiktoken."""
    from .. import counting, profiles, render
    from ..prompt_input import read_file_text, read_stdin

    prof = profiles.resolve(profile, {"model": model})
    if conversation_ref is not None:
        if model is None and profile is None:
            from .. import store

            conv_model = store.load(conversation_ref).meta.get("settings", {}).get("model")
            if conv_model:
                prof = profiles.resolve(profile, {"model": conv_model})
        report = counting.count_conversation(prof, conversation_ref)
    elif messages is not None:
        data = read_stdin() if messages == "-" else read_file_text(Path(messages))
        report = counting.count_messages(prof, data, "stdin" if messages == "-" else messages)
    else:
        atts = None
        if attach:
            from ..attachments.detect import load_all

            atts = load_all(attach, detail=check_detail(detail))
        stdin_text = "" if attach and "-" in attach else read_stdin()
        joined = " ".join(text) if text else None
        report = counting.count_inputs(prof, text=joined, files=file, stdin_text=stdin_text, attachments=atts)
    for w in report.warnings:
        render.Status().warn(w)
    if json_out:
        render.print_json(report.to_dict())
        return
    show_count(report)


def show_count(report: Any) -> None:
    from .. import render

    def share(n: int) -> str:
        s = report.window_share(n)
        return f"{s:.1%} of {report.info.context_window:,}" if s is not None else "window unknown"

    label = report.encoding + ("" if report.exact else " (approximate: not this model's own tokenizer)")
    price = report.info.price
    per_m = f" at ${price.input:g}/1M" if price and price.input is not None else ""
    if len(report.items) == 1:
        item = report.items[0]
        rows = [
            ["tokens", f"{item.tokens:,}" + (" (whole request)" if item.kind == "request" else "")],
            *([["counted", item.note]] if item.note else []),
            ["characters", f"{item.characters:,}"],
            ["encoding", label],
            ["model", report.model + _source(report.info)],
            ["input cost", render.usd(report.input_cost(item.tokens)) + per_m],
            ["context", share(item.tokens)],
        ]
        render.print_table(["field", "value"], rows, header_on_terminal=False)
        return
    rows = [
        [
            i.source + (" ~" if i.note else ""),
            f"{i.tokens:,}",
            f"{i.characters:,}",
            render.usd(report.input_cost(i.tokens)),
            share(i.tokens),
        ]
        for i in report.items
    ]
    total = report.total_tokens
    rows.append(
        ["total", f"{total:,}", f"{report.total_characters:,}", render.usd(report.input_cost(total)), share(total)]
    )
    render.print_table(
        ["source", "tokens", "characters", "input cost", "context"], rows, title=f"{report.model} · {label}{per_m}"
    )
    for i in report.items:
        if i.note:
            render.Status(True)(f"~ {i.source}: {i.note}")


def _source(info: Any) -> str:
    """Where the price came from, as ``ask --json`` notes say it."""
    if info.assumed:
        return f" ({info.note()})"
    return f" (price data: {info.matched})" if info.matched else ""
