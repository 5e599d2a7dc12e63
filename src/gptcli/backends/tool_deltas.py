"""A reply's tool calls, read from the wire: streamed ``delta.tool_calls`` assembled by
index, and a whole message's ``tool_calls``; pure, for parsed JSON and the SDK's objects.

Chat Completions streams a call in pieces: the first delta of a call carries its
``index``, ``id``, ``type`` and ``function.name``; later deltas with the same ``index``
append to ``function.arguments``. Parallel calls have their own indexes and may
interleave. Some OpenAI-compatible servers (Ollama) send every call of a parallel batch
at index 0, telling them apart only by a new ``id``: a new id at an index already in use
starts a new call. A call the server sent without an id gets one (``call_N``), so the
tool message that answers it can name it.

The calls are plain wire dicts (``{"id", "type": "function", "function": {"name",
"arguments"}}``), the shape the assistant message carries back to the server.
"""

from __future__ import annotations

from typing import Any


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a dict, ``obj.name`` for an SDK object, None when absent."""
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def wire_call(ident: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


class ToolCallParts:
    """One choice's streamed tool-call deltas, assembled into whole calls in order."""

    def __init__(self) -> None:
        self._ids: list[str | None] = []
        self._names: list[list[str]] = []
        self._args: list[list[str]] = []
        self._slot: dict[int, int] = {}  # the delta's index -> the call it continues

    def __bool__(self) -> bool:
        return bool(self._ids)

    def feed(self, deltas: Any) -> None:
        """Take one chunk's ``delta.tool_calls`` (a list, or None)."""
        for i, d in enumerate(deltas or ()):
            index = field(d, "index")
            index = index if isinstance(index, int) else i
            ident = field(d, "id") or None
            slot = self._slot.get(index)
            if slot is None or (ident is not None and self._ids[slot] not in (None, ident)):
                slot = self._open(index)
            if ident is not None and self._ids[slot] is None:
                self._ids[slot] = str(ident)
            function = field(d, "function")
            name = field(function, "name")
            # The name comes whole in the first delta; a server that repeats it in later
            # deltas of the same call is not taken to append to it.
            if isinstance(name, str) and name and "".join(self._names[slot]) != name:
                self._names[slot].append(name)
            args = field(function, "arguments")
            if isinstance(args, str) and args:
                self._args[slot].append(args)

    def _open(self, index: int) -> int:
        self._ids.append(None)
        self._names.append([])
        self._args.append([])
        self._slot[index] = len(self._ids) - 1
        return self._slot[index]

    def calls(self) -> tuple[dict[str, Any], ...]:
        out = []
        for k, ident in enumerate(self._ids):
            out.append(wire_call(ident or f"call_{k}", "".join(self._names[k]), "".join(self._args[k])))
        return tuple(out)


def message_calls(message: Any) -> tuple[dict[str, Any], ...]:
    """A whole (non-streamed) message's ``tool_calls`` as wire dicts (() when none)."""
    calls = field(message, "tool_calls")
    if not isinstance(calls, list | tuple):
        return ()
    out = []
    for k, call in enumerate(calls):
        function = field(call, "function")
        name = field(function, "name")
        args = field(function, "arguments")
        if isinstance(args, dict):  # a server that sends the object itself
            import json

            args = json.dumps(args, ensure_ascii=False)
        ident = field(call, "id")
        out.append(wire_call(str(ident) if ident else f"call_{k}", str(name or ""), str(args or "")))
    return tuple(out)
