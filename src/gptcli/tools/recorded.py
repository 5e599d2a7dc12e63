"""``replay --rerun --reuse-tool-results``: a Toolbox that answers from a conversation's log.

The tools offered are the ones the conversation offered (its ``tools`` note; from the
tool messages' names when an older file has none), and each call gets the result
recorded for the same tool with the same arguments (in order, when the same call was
made several times), else the next recorded result of that tool, else an error saying
none was recorded. No server is started: a model comparison sees the same tool outputs.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from typing import Any

from .base import ToolResult, ToolSpec
from .calls import CallRecord


def _key(tool: str, arguments: Any) -> str:
    return tool + "\0" + json.dumps(arguments, sort_keys=True, ensure_ascii=False)


class RecordedToolbox:
    def __init__(self, specs: list[ToolSpec], records: list[CallRecord]) -> None:
        self._specs = specs
        self._exact: dict[str, deque[CallRecord]] = defaultdict(deque)
        self._by_tool: dict[str, deque[CallRecord]] = defaultdict(deque)
        for r in records:
            if r.status in ("ok", "error") and r.server is not None:
                self._exact[_key(r.tool, r.arguments)].append(r)
                self._by_tool[r.tool].append(r)
        self.used: list[CallRecord] = []

    def specs(self) -> list[ToolSpec]:
        return list(self._specs)

    def call(self, spec: ToolSpec, arguments: dict[str, Any], *, timeout: float) -> ToolResult:
        exact = self._exact.get(_key(spec.qualified, arguments))
        record = exact.popleft() if exact else None
        if record is not None:
            self._by_tool[spec.qualified].remove(record)
        else:
            same_tool = self._by_tool.get(spec.qualified)
            record = same_tool.popleft() if same_tool else None
            if record is not None:
                self._exact[_key(record.tool, record.arguments)].remove(record)
        if record is None:
            return ToolResult(f"error: no recorded result for {spec.qualified} in the conversation re-run", True)
        self.used.append(record)
        return ToolResult(record.result, record.is_error, duration=0.0, truncated=record.truncated)

    def close(self) -> None:
        pass


def from_log(records: list[dict[str, Any]], notes: list[dict[str, Any]]) -> RecordedToolbox:
    """The toolbox of a loaded conversation (``store.Conversation.records`` and ``.notes``)."""
    calls = [CallRecord.from_log(r) for r in records if r.get("role") == "tool"]
    specs: list[ToolSpec] = []
    offered = [n for n in notes if n.get("kind") == "tools" and isinstance(n.get("tools"), list)]
    if offered:
        for t in offered[-1]["tools"]:
            if isinstance(t, dict) and isinstance(t.get("server"), str) and isinstance(t.get("name"), str):
                schema = t.get("input_schema") if isinstance(t.get("input_schema"), dict) else None
                specs.append(
                    ToolSpec(t["server"], t["name"], str(t.get("description") or ""), *([schema] if schema else []))
                )
    else:
        seen: set[str] = set()
        for call in calls:
            if call.server and call.tool not in seen and call.tool.startswith(call.server + "."):
                seen.add(call.tool)
                specs.append(ToolSpec(call.server, call.tool[len(call.server) + 1 :]))
    return RecordedToolbox(specs, calls)
