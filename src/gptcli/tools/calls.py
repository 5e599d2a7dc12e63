"""One tool call and what became of it: the values the loop, the log, ``--json`` and the
renderers share.

The model names a call by the tool's ``wire_name`` with JSON ``arguments`` (a string,
possibly not valid JSON); ``CallRecord`` is what happened (run, failed, refused, not
run), told the model as a ``{"role": "tool", ...}`` message and written to the log as
such a message with the fields of docs/log-format.md. ``ToolStarted`` / ``ToolFinished``
are the events a turn yields around each call, for the renderers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# What the model reads when a call was not run, and why (``CallRecord.status``).
REFUSED = "refused by the user's policy: {tool} is not on the allow list and there is no terminal to ask"
DECLINED = "refused by the user: the user declined to run {tool}"
UNKNOWN = "error: no tool named {name!r} was offered"
BAD_ARGUMENTS = "error: the arguments are not a JSON object ({why}); call {tool} again with valid JSON"
NOT_RUN = "not run: {why}"


@dataclass(frozen=True)
class ToolCall:
    """A call as the model made it: its id, the tool's wire name, the arguments' JSON text."""

    id: str
    name: str
    arguments: str

    @classmethod
    def from_wire(cls, call: dict[str, Any]) -> ToolCall:
        fn = call.get("function") or {}
        return cls(str(call.get("id") or ""), str(fn.get("name") or ""), str(fn.get("arguments") or ""))

    def parsed(self) -> tuple[dict[str, Any] | None, str | None]:
        """The arguments as an object, or None and why not (an empty string is ``{}``)."""
        if not self.arguments.strip():
            return {}, None
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError as e:
            return None, f"invalid JSON: {e.msg} at character {e.pos}"
        if not isinstance(value, dict):
            return None, f"a JSON {type(value).__name__}, not an object"
        return value, None


@dataclass(frozen=True)
class CallRecord:
    """What happened to one call.

    ``status``: ``ok`` (run; ``is_error`` if the tool said it failed), ``error`` (not
    runnable: unknown tool, bad arguments, the server failed), ``refused`` (not on the
    allow list and no terminal), ``declined`` (the user said no), ``not_run`` (the loop
    stopped first: --max-steps, Ctrl-C), ``interrupted`` (Ctrl-C during the call).
    """

    id: str
    tool: str  # the qualified name (server.tool), or the name the model used when unknown
    server: str | None
    arguments: Any  # the parsed object, or the raw text when it was not JSON
    result: str  # what the model is told
    is_error: bool = False
    duration: float = 0.0
    status: str = "ok"
    truncated: bool = False

    def message(self) -> dict[str, Any]:
        """The tool message that answers the call."""
        return {"role": "tool", "tool_call_id": self.id, "content": self.result}

    def to_dict(self) -> dict[str, Any]:
        """The entry of ``--json``'s ``tool_calls``."""
        out: dict[str, Any] = {
            "tool": self.tool,
            "arguments": self.arguments,
            "result": self.result,
            "is_error": self.is_error,
            "duration": round(self.duration, 4),
            "server": self.server,
            "status": self.status,
        }
        if self.truncated:
            out["truncated"] = True
        return out

    def log_fields(self) -> dict[str, Any]:
        """The fields of its ``tool`` message in the log (besides role and content)."""
        out: dict[str, Any] = {
            "tool_call_id": self.id,
            "tool": self.tool,
            "server": self.server,
            "arguments": self.arguments,
            "is_error": self.is_error,
            "duration": round(self.duration, 4),
            "status": self.status,
        }
        if self.truncated:
            out["truncated"] = True
        return out

    def line(self) -> str:
        """One status line: ``tool fs.read_file {"path": "a"}: ok, 120 characters, 0.02 s`` (unsanitised)."""
        args = short_arguments(self.arguments, 80)
        if self.status == "ok":
            what = "error" if self.is_error else "ok"
            size = f"{len(self.result):,} characters" + (" (truncated)" if self.truncated else "")
            return f"tool {self.tool} {args}: {what}, {size}, {self.duration:.2f} s"
        first = self.result.splitlines()[0] if self.result else ""
        return f"tool {self.tool} {args}: {self.status.replace('_', ' ')}: {first}"

    def warning(self) -> str | None:
        """The warning for a call that was refused or went wrong (None for one that went well,
        or that the user declined: they know); unsanitised."""
        if self.status in ("refused", "error") or (self.status == "ok" and self.is_error):
            first = self.result.splitlines()[0] if self.result else ""
            return f"tool {self.tool}: {first[:200]}"
        return None

    @classmethod
    def from_log(cls, record: dict[str, Any]) -> CallRecord:
        """A ``tool`` message of the log back as a record (``replay --reuse-tool-results``)."""
        duration = record.get("duration")
        return cls(
            id=str(record.get("tool_call_id") or ""),
            tool=str(record.get("tool") or ""),
            server=record.get("server") if isinstance(record.get("server"), str) else None,
            arguments=record.get("arguments"),
            result=str(record.get("content") or ""),
            is_error=bool(record.get("is_error")),
            duration=float(duration) if isinstance(duration, int | float) else 0.0,
            status=str(record.get("status") or "ok"),
            truncated=bool(record.get("truncated")),
        )


@dataclass(frozen=True)
class ToolStarted:
    """A call is about to run (after it was allowed)."""

    tool: str
    arguments: Any


@dataclass(frozen=True)
class ToolFinished:
    """A call's outcome, whatever it was."""

    record: CallRecord


def assistant_message(text: str, calls: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The assistant message that carries a reply's tool calls back to the server."""
    return {"role": "assistant", "content": text or None, "tool_calls": [dict(c) for c in calls]}


def pretty_arguments(arguments: Any) -> str:
    """Arguments as the user is shown them: indented JSON (the raw text when not JSON)."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, indent=2, ensure_ascii=False, sort_keys=True)


def short_arguments(arguments: Any, limit: int = 120) -> str:
    """Arguments on one line, cut at ``limit`` characters (status lines)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
