"""A saved conversation as text, as Markdown source, or as one OpenAI ``{"messages": [...]}`` line.

What ``gptcli replay ID`` prints (``--format text|markdown|openai``); pure functions from a
loaded conversation to a string, golden-file tested.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import jsonl
from ..models import usd
from ..transcript import Message, messages, reply_stats, summary
from .tables import local_time

if TYPE_CHECKING:
    from ..store import Conversation


def header_parts(conv: Conversation) -> list[str]:
    """Date, profile, model, turns, cost and origin: the line above a transcript."""
    s = summary(conv)
    parts = [local_time(s["created"])]
    if s["profile"]:
        parts.append(f"profile {s['profile']}")
    if s["model"]:
        parts.append(f"model {s['model']}")
    parts.append(turns_text(s))
    if s["cost"] is not None:
        parts.append(usd(s["cost"]) + (" (some replies unpriced)" if s["unpriced"] else ""))
    if s.get("replay_of"):
        parts.append(f"replay of {s['replay_of']}")
    return parts


def turns_text(row: dict[str, Any]) -> str:
    """``3 turns`` or ``3 turns, 1 failed``."""
    turns, failed = int(row.get("turns") or 0), int(row.get("failed") or 0)
    return f"{turns} turn{'' if turns == 1 else 's'}" + (f", {failed} failed" if failed else "")


def _failure(m: Message) -> str:
    return f"failed: {m.error or 'no reply'}; not sent in later requests"


def attachment_line(ref: dict[str, Any]) -> str:
    """One attachment of a message, as ``replay`` lists it (never its bytes)."""
    if ref.get("url"):
        return f"{ref.get('type') or 'image'} {ref['url']} (URL)" + (
            f" · detail {ref['detail']}" if ref.get("detail") else ""
        )
    size = ref.get("size")
    bits = [
        f"{ref.get('type') or 'file'} {ref.get('name') or '?'}",
        str(ref.get("mime") or ""),
        f"{size:,} bytes" if isinstance(size, int) else "",
        f"sha256 {str(ref.get('sha256') or '')[:12]}",
        f"detail {ref['detail']}" if ref.get("detail") else "",
    ]
    return " · ".join(b for b in bits if b)


def to_text(conv: Conversation, *, verbose: bool = False) -> str:
    """Plain text: a header line, then ``[role]`` and the content of each message."""
    lines = [f"conversation {conv.id} · " + " · ".join(header_parts(conv)), ""]
    for m in messages(conv):
        head = f"[{m.role}]"
        if m.role == "assistant":
            if verbose:
                head += " " + reply_stats(m.model, m.usage, m.cost, m.latency, priced=m.priced)
            if m.incomplete:
                head += " (interrupted)" if m.interrupted else " (incomplete)"
        if m.failed:
            head += f" ({_failure(m)})"
        if m.tool:
            head = f"[tool {m.tool}] ({m.tool_status})"
        lines.append(head)
        lines.extend(f"(calls {c})" for c in m.calls)
        if verbose and m.reasoning:
            lines.append("[reasoning]")
            lines.append(m.reasoning)
            lines.append("[answer]")
        lines.append(m.content)
        lines.extend(f"[attachment] {attachment_line(a)}" for a in m.attachments)
        lines.append("")
    return "\n".join(lines)


def to_markdown(conv: Conversation, *, verbose: bool = False) -> str:
    """Markdown source: a title, the header in italics, a ``###`` heading per message."""
    out = [f"# Conversation {conv.id}", "", "*" + " · ".join(header_parts(conv)) + "*", ""]
    for m in messages(conv):
        out.append(f"### Tool `{m.tool}`" if m.tool else f"### {m.role.capitalize()}")
        out.append("")
        notes = [f"calls `{c}`" for c in m.calls]
        if m.tool_status:
            notes.append(m.tool_status)
        if m.role == "assistant" and verbose:
            notes.append(reply_stats(m.model, m.usage, m.cost, m.latency, priced=m.priced))
        if m.incomplete:
            notes.append("interrupted" if m.interrupted else "incomplete")
        if m.failed:
            notes.append(_failure(m))
        if notes:
            out.append("*" + " · ".join(notes) + "*")
            out.append("")
        if verbose and m.reasoning:
            out.append("<details><summary>Reasoning</summary>")
            out.append("")
            out.append(m.reasoning)
            out.append("")
            out.append("</details>")
            out.append("")
        out.append(m.content)
        if m.attachments:
            out.append("")
            out.extend(f"- attachment: {attachment_line(a)}" for a in m.attachments)
        out.append("")
    return "\n".join(out)


def to_openai(conv: Conversation) -> str:
    """One ``{"messages": [...]}`` line: what OpenAI fine-tuning and evals take (and ``store.load`` reads)."""
    return jsonl.dumps({"messages": conv.messages})
