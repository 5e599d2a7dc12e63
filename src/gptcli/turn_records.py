"""A turn as a record: the assistant line of the log, an error note, and what ``ask --json`` / ``--dry-run`` print.

One place for these fields, so the log and ``--json`` keep one name per thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import store
from .errors import GptcliError
from .models import Completion, Preflight, Profile, RequestDescription, Turn, redact_url


@dataclass(frozen=True)
class DryRun:
    """What ``--dry-run`` shows: the exact body, its estimate, and the adaptations made."""

    body: dict[str, Any]
    preflight: Preflight
    notes: tuple[str, ...]
    base_url: str
    request: RequestDescription  # method, URL, headers (key redacted) and body, from the backend


def reply_record(
    completion: Completion,
    pre: Preflight,
    *,
    cost: float | None,
    estimated: bool,
    tag: str | None,
    error: GptcliError | None = None,
) -> dict[str, Any]:
    """The fields of a reply's line in the log (besides its role and text)."""
    usage = completion.usage
    extra: dict[str, Any] = {
        "model": completion.model,
        "finish_reason": completion.finish_reason,
        "usage": usage.to_dict() if usage else None,
        "estimated_prompt_tokens": pre.prompt_tokens,
        "estimate_exact": pre.exact,
        "estimated_cost": [pre.cost_min, pre.cost_max],
        "cost": cost,
        "latency": round(completion.latency, 4),
    }
    if estimated:
        extra["cost_estimated"] = True
    if tag:
        extra["tag"] = tag
    if pre.capped:
        extra["max_output_cap"] = pre.max_output
    if len(completion.texts) > 1:
        extra["choices"] = list(completion.texts)
        extra["finish_reasons"] = list(completion.finish_reasons)
    if completion.incomplete:
        extra["incomplete"] = True
    if completion.interrupted:
        extra["interrupted"] = True
    if any(completion.reasonings):
        extra["reasoning"] = completion.reasoning
        if len(completion.reasonings) > 1:
            extra["reasonings"] = list(completion.reasonings)
    if completion.in_reasoning:
        extra["in_reasoning"] = True
    if error is not None:  # a failed turn: the log says so, and history leaves it out
        extra["failed"] = True
        extra["error"] = error.message
    return extra


def error_note(writer: store.Writer, e: GptcliError, *, tag: str | None = None, **more: Any) -> None:
    """A failed request in the log: its message, exit code and the server's whole answer."""
    extra: dict[str, Any] = {"exit_code": int(e.exit_code), **more}
    if tag:
        extra["tag"] = tag  # billed to this project (gptcli usage --by tag)
    if e.detail:
        extra["detail"] = e.detail  # the server's whole answer (the message is one line)
    writer.note(f"error: {e.message}", kind="error", **extra)


def estimate_record(pre: Preflight | None) -> dict[str, Any] | None:
    """The preflight estimate as ``--json`` and ``--dry-run`` print it."""
    if pre is None:
        return None
    return {
        "prompt_tokens": pre.prompt_tokens,
        "exact": pre.exact,
        # Always filled: the tokenizer counted with, or "approximate" (no encoding could be loaded).
        "encoding": pre.encoding or "approximate",
        "cost_min": pre.cost_min,
        "cost_max": pre.cost_max,
        "context_window": pre.context_window,
        "max_output_tokens": pre.max_output,
        "capped": pre.capped,
    }


def turn_record(turn: Turn, profile: Profile) -> dict[str, Any]:
    """One turn as ``ask --json`` prints it."""
    c = turn.completion
    multi = len(c.texts) > 1 or profile.n > 1  # a list whenever n > 1 was asked, however many came
    return {
        "text": list(c.texts) if multi else c.text,
        "model": c.model,
        "profile": profile.name,
        "finish_reason": list(c.finish_reasons) if multi else c.finish_reason,
        "usage": c.usage.to_dict() if c.usage else None,
        "cost": turn.cost,
        "cost_estimated": turn.cost_estimated,
        "estimate": estimate_record(turn.preflight),
        "conversation_id": turn.conversation_id,
        "latency": round(c.latency, 4),
        "incomplete": c.incomplete,
        "reasoning": list(c.reasonings) if multi and c.reasonings else c.reasoning,
        "in_reasoning": c.in_reasoning,
        "notes": list(turn.notices),
        **({"tool_calls": list(turn.tool_calls), "steps": turn.steps} if turn.tool_calls is not None else {}),
    }


def dry_run_record(d: DryRun, profile: Profile) -> dict[str, Any]:
    """What ``ask --dry-run`` prints: the request as it would be sent, its estimate and notes."""
    # The profile's own [headers] too, through settings() so credential values stay redacted.
    headers = {"Authorization": "Bearer [redacted]", "Content-Type": "application/json"}
    headers.update(profile.settings()["headers"])
    return {
        "method": "POST",
        "url": redact_url(d.base_url.rstrip("/")) + "/chat/completions",
        "headers": headers,
        "body": d.body,
        "estimate": estimate_record(d.preflight),
        "notes": list(d.notes),
    }
