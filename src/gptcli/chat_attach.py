"""Chat's ``/attach PATH|URL``, ``/attachments`` and ``/detach [N]`` (README "Attachments").

What is attached waits in ``chat.attached`` and goes with the next message, then the
list is empty again. Each attachment is checked when it is attached: its type and size
(``attachments.detect``) and whether the session's model takes it (``attachments.capable``),
so a refusal comes before the message is typed, not after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .chat import Chat

# name -> (arguments, what it does), merged into chat.COMMANDS for /help and Tab
COMMANDS: dict[str, tuple[str, str]] = {
    "attach": ("PATH|URL", "attach an image, PDF, audio or text file (or an image URL) to your next message"),
    "attachments": ("", "list what your next message will carry, with each one's tokens"),
    "detach": ("[N]", "drop attachment N of /attachments (all of them without N)"),
}


def pending(chat: Chat) -> list[Any]:
    """The attachments the next message carries (the Chat's own list)."""
    return chat.attached


def _line(att: Any, model: str) -> str:
    from .attachments import describe, parts

    d = describe.describe_attachment(att, parts.part(att), model)
    tokens = "" if d["tokens"] is None else f" · {'~' if d.get('note') else ''}{d['tokens']:,} tokens"
    size = f" · {d['bytes']:,} bytes" if d["bytes"] else " · URL, not fetched"
    return f"{d['name']}: {d['type']}{size}{tokens}"


def cmd_attach(chat: Chat, arg: str) -> None:
    from .attachments import capable, detect

    spec = arg.strip()
    if len(spec) >= 2 and spec[0] == spec[-1] and spec[0] in "'\"":
        spec = spec[1:-1]  # a quoted path with spaces
    if not spec:
        raise UsageError("/attach PATH or URL: the file (or image URL) your next message carries")
    if spec == "-":
        raise UsageError("/attach - is not possible in chat: stdin is where your messages come from")
    att = detect.load(spec)
    capable.check(chat.session.profile, [att.kind])
    pending(chat).append(att)
    chat.ui.info(f"attached {_line(att, chat.session.profile.model)}; your next message carries it")


def cmd_attachments(chat: Chat, arg: str) -> None:
    atts = pending(chat)
    if not atts:
        chat.ui.info("nothing attached (/attach PATH adds a file to your next message)")
        return
    model = chat.session.profile.model
    chat.ui.info("\n".join(f"  {i}. {_line(a, model)}" for i, a in enumerate(atts, start=1)))


def cmd_detach(chat: Chat, arg: str) -> None:
    atts = pending(chat)
    if not arg.strip():
        n = len(atts)
        atts.clear()
        chat.ui.info(f"detached {n} attachment{'s' if n != 1 else ''}")
        return
    try:
        index = int(arg.strip())
    except ValueError:
        raise UsageError("/detach N takes the number /attachments shows (or nothing, to drop them all)") from None
    if not 1 <= index <= len(atts):
        raise UsageError(f"no attachment {index}: /attachments lists {len(atts)}")
    gone = atts.pop(index - 1)
    chat.ui.info(f"detached {gone.name}")


def take(chat: Chat) -> list[Any] | None:
    """The attachments for the message being sent now; the list is empty afterwards."""
    atts = pending(chat)
    if not atts:
        return None
    taken = list(atts)
    atts.clear()
    return taken
