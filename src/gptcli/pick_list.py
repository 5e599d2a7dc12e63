"""The searchable pick list ``gptcli chat -c`` shows on a terminal: which conversation to resume.

Rows come from the replay listing (newest first): title, model, age and turns. Typing
filters them (every word must appear in the title, model, profile or id, any case);
Up/Down (or Ctrl-P/Ctrl-N) move; Enter resumes the highlighted one (the newest, unless
moved); Esc or Ctrl-C leaves without resuming anything. prompt_toolkit is imported only
when the list is shown.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
SHOWN = 12  # rows on screen at once


def clean(text: Any) -> str:
    """Text fit for the terminal: control characters (escape sequences...) replaced by spaces."""
    return _CONTROL.sub(" ", str(text or ""))


def age(iso: str | None, now: datetime | None = None) -> str:
    """``5m``, ``3h``, ``2d``, ``6w``: how long ago ``iso`` was."""
    if not iso:
        return "?"
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


def describe(row: dict[str, Any], now: datetime | None = None) -> str:
    """One row: ``title · model · age · N turns[, M failed]``."""
    title = clean(row.get("title") or row.get("first_prompt") or "(untitled)")
    turns = int(row.get("turns") or 0)
    failed = int(row.get("failed") or 0)
    count = f"{turns} turn{'' if turns == 1 else 's'}" + (f", {failed} failed" if failed else "")
    return f"{title} · {clean(row.get('model') or '?')} · {age(row.get('updated'), now)} · {count}"


def matches(row: dict[str, Any], query: str) -> bool:
    hay = " ".join(str(row.get(k) or "") for k in ("title", "first_prompt", "model", "profile", "id")).casefold()
    return all(word in hay for word in query.casefold().split())


def pick(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Show the list on the terminal; the row chosen, or None (Esc, Ctrl-C)."""
    from prompt_toolkit.application import Application
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.layout import HSplit, Layout, Window
    from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl

    now = datetime.now(UTC)
    state: dict[str, Any] = {"at": 0}
    search = Buffer()

    def visible() -> list[dict[str, Any]]:
        return [r for r in rows if matches(r, search.text)]

    def lines() -> Any:
        shown = visible()
        state["at"] = min(state["at"], max(0, len(shown) - 1))
        if not shown:
            return [("class:dim", "  no conversation matches\n")]
        start = max(0, state["at"] - SHOWN + 1)
        out = []
        for i, r in enumerate(shown[start : start + SHOWN], start=start):
            mark, style = ("> ", "reverse") if i == state["at"] else ("  ", "")
            out.append((style, f"{mark}{describe(r, now)}\n"))
        return out

    search.on_text_changed += lambda _: state.update(at=0)
    kb = KeyBindings()

    @kb.add("up")
    @kb.add("c-p")
    def _up(event: KeyPressEvent) -> None:
        state["at"] = max(0, state["at"] - 1)

    @kb.add("down")
    @kb.add("c-n")
    def _down(event: KeyPressEvent) -> None:
        state["at"] = min(len(visible()) - 1, state["at"] + 1) if visible() else 0

    @kb.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        shown = visible()
        event.app.exit(result=shown[state["at"]] if shown else None)

    @kb.add("escape", eager=True)
    @kb.add("c-c")
    def _leave(event: KeyPressEvent) -> None:
        event.app.exit(result=None)

    header = "Resume which conversation? Type to search, Up/Down to move, Enter to resume, Esc to leave."
    layout = Layout(
        HSplit(
            [
                Window(FormattedTextControl(header), height=1),
                Window(BufferControl(search), height=1, get_line_prefix=lambda *_: "search: "),
                Window(FormattedTextControl(lines), height=min(SHOWN, max(1, len(rows)))),
            ]
        ),
        focused_element=search,
    )
    app: Application[dict[str, Any] | None] = Application(
        layout=layout, key_bindings=kb, full_screen=False, erase_when_done=True
    )
    return app.run()
