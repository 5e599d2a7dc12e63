"""Chat's edits to a session's history: undo, the title and the system prompt, a reply withdrawn.

Changes to the history are logged as notes that ``store.load`` applies: a note with
``"drop": N`` withdraws the last N messages (``undo``, ``retry``); a note of kind
``"system"`` replaces the system prompt. A resumed conversation is the one the user saw.
``HistoryEdits`` is a base of ``conversation.Session``, which holds the fields below.
"""

from __future__ import annotations

from typing import Any

from . import store
from .errors import UsageError


class HistoryEdits:
    """The edits, on the fields ``Session`` declares (annotated here for the type checker)."""

    messages: list[dict[str, Any]]
    failed_turn: dict[str, Any] | None
    _writer: store.Writer | None
    _meta: dict[str, Any]
    _pending: list[dict[str, Any]]

    def _withdraw_reply(self) -> None:
        if self.messages and self.messages[-1]["role"] == "assistant":
            self.messages.pop()
            self._log_change("retry: the last reply was withdrawn", kind="retry", drop=1)

    def undo(self) -> list[dict[str, Any]]:
        """Drop the last exchange (the last user message and the reply to it); return it."""
        if self.failed_turn is not None:  # the failed question: it is the log's last message
            dropped = [{"role": "user", "content": self.failed_turn["content"]}]
            self.failed_turn = None
            self._log_change("undo: the failed question was dropped", kind="undo", drop=1)
            return dropped
        last = max((i for i, m in enumerate(self.messages) if m["role"] == "user"), default=None)
        if last is None:
            raise UsageError("nothing to undo")
        dropped = self.messages[last:]
        del self.messages[last:]
        self._log_change("undo: the last exchange was dropped", kind="undo", drop=len(dropped))
        return dropped

    @property
    def title(self) -> str | None:
        return self._meta.get("title") or None

    def set_title(self, title: str) -> None:
        """Name this conversation (chat's /title, ``--title``); shown by the replay listing."""
        from .transcript import title_from

        title = title_from(title)  # conversation.make_title
        self._meta["title"] = title
        if self._writer is not None:
            self._writer.note(f"title: {title}", kind="title", title=title)

    @property
    def system(self) -> str | None:
        for m in self.messages:
            if m["role"] == "system":
                return str(m["content"])
        return None

    def set_system(self, text: str | None) -> None:
        """Replace (or, with None, remove) the system prompt of this conversation."""
        text = text or None
        first = next((i for i, m in enumerate(self.messages) if m["role"] == "system"), None)
        if first is not None:
            if text is None:
                del self.messages[first]
            else:
                self.messages[first] = {"role": "system", "content": text}
        elif text is not None:
            self.messages.insert(0, {"role": "system", "content": text})
        self._log_change("the system prompt was changed", kind="system", system=text)

    def _log_change(self, text: str, **extra: Any) -> None:
        if self._writer is not None:
            self._writer.note(text, **extra)
        elif self._pending:  # a copy not written yet: copy the history as it now stands
            self._pending = list(self.messages)
