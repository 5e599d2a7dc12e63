"""Chat's slash commands: ``/help``, ``/set``, ``/model``, ``/undo``... (``HANDLERS``: name -> function(chat, arg)).

Each handler changes the chat's session and says what it did through the chat's front
end (``chat.ui``); nothing here prints. ``/copy``, ``/edit`` and ``!command`` live in
``chat_extras``. To add a command: a ``cmd_NAME(chat, arg)`` function, a ``COMMANDS`` row
(``/help`` and Tab completion) and a ``HANDLERS`` entry.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from . import chat_attach, chat_extras, profiles
from .chat_quotes import unquote
from .errors import GptcliError, UsageError
from .models import Profile, usd
from .printable import escape_controls, strip_controls

if TYPE_CHECKING:
    from .chat import Chat

# name -> (arguments, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "this list"),
    "system": ("[TEXT]", "show or set the system prompt (/system --clear removes it)"),
    "model": ("[NAME]", "show or switch the model"),
    "profile": ("[NAME]", "switch profile: model, sampling and system prompt"),
    "set": (
        "[KEY VALUE]",
        "show the settings or change one: temperature, top_p, max_tokens, n, stop, seed... "
        "(VALUE is JSON or a word; 'none' unsets)",
    ),
    "reset": ("", "start a new conversation (same settings)"),
    "undo": ("", "drop the last exchange"),
    "retry": ("", "regenerate the last reply, or resend a question whose reply failed"),
    "title": ("[TEXT]", "show or set this conversation's title (replay and the resume list show it)"),
    "x": ("[all]", "print the last reply's first code block plain, to copy (/x all: every block)"),
    "tokens": ("", "tokens in context against the model's window"),
    "reasoning": ("", "the last reply's thinking, in full (reasoning models)"),
    "cost": ("", "this session's cost so far"),
    "save-profile": ("NAME [--force]", "save the current settings as a TOML profile"),
    **chat_extras.COMMANDS,  # /copy, /edit
    **chat_attach.COMMANDS,  # /attach, /attachments, /detach
    "exit": ("", "leave (also /quit, exit, quit, 退出, 再见, Ctrl-D)"),
}
_ALIASES = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}
# Keys /set refuses: secrets and tables of them belong in a profile file (MCP servers too: commands, env).
_NO_SET = frozenset({"headers", "api_key_cmd", "mcp"})
_UNSET_WORDS = frozenset({"none", "null", "default", "off", "unset"})


def command(chat: Chat, name: str, arg: str) -> bool:
    name = _ALIASES.get(name, name)
    if name == "exit":
        chat._farewell(None)
        return False
    handler = HANDLERS.get(name)
    if name not in COMMANDS or handler is None:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"did you mean /{close[0]}? " if close else ""
        chat.ui.warn(f"unknown command /{name}: {hint}/help lists the commands (// sends a message starting with /)")
        return True
    try:
        handler(chat, arg)
    except GptcliError as e:
        chat.ui.error(e)
    return True


def cmd_help(chat: Chat, arg: str) -> None:
    width = max(len(f"/{n} {a}".strip()) for n, (a, _) in COMMANDS.items())
    lines = [f"  {f'/{n} {a}'.strip():<{width}}  {h}" for n, (a, h) in COMMANDS.items()]
    lines.append("")
    lines.append("  A message: type it and press Enter. Multi-line: paste it, press Esc-Enter (Alt-Enter) for")
    lines.append('  a new line, or open and close it with """. Ctrl-C cancels a reply; Ctrl-D leaves.')
    if chat.ui.interactive:
        lines.append(f"  {chat_extras.SHELL_HELP}.")
    chat.ui.info("\n".join(lines))


def cmd_system(chat: Chat, arg: str) -> None:
    if not arg:
        current = chat.session.system
        chat.ui.info(f"system prompt: {current}" if current else "no system prompt (/system TEXT sets one)")
        return
    text = None if arg in ("--clear", "-") else unquote(arg)
    chat.session.set_system(text)
    chat._context = None
    chat.ui.info("system prompt removed" if text is None else "system prompt set")


def cmd_model(chat: Chat, arg: str) -> None:
    if not arg:
        chat.ui.info(f"model: {chat.session.profile.model}")
        return
    change(chat, {"model": arg})


def cmd_profile(chat: Chat, arg: str) -> None:
    prof = chat.session.profile
    if not arg:
        names = ", ".join(sorted(profiles.available()))
        chat.ui.info(f"profile: {prof.name} (available: {names})")
        return
    new = profiles.resolve(arg)
    chat.session.with_profile(new)
    chat.session.note(f"profile changed to {new.name}", kind="settings", profile=new.name, settings=new.settings())
    if new.system != chat.session.system:
        chat.session.set_system(new.system)
    chat._context = None
    chat.ui.info(f"profile {new.name}: {new.model}" + (" (with its system prompt)" if new.system else ""))


def cmd_set(chat: Chat, arg: str) -> None:
    prof = chat.session.profile
    if not arg:
        settings = prof.settings()
        shown = {k: v for k, v in settings.items() if k not in ("headers", "params", "description")}
        chat.ui.info("\n".join(f"  {k} = {json.dumps(v, ensure_ascii=False)}" for k, v in shown.items()))
        return
    key, _, raw = arg.partition(" ")
    key = profiles.ALIASES.get(key, key).replace("-", "_")
    if key not in profiles.VALIDATORS or key in _NO_SET:
        known = ", ".join(k for k in profiles.VALIDATORS if k not in _NO_SET)
        raise UsageError(f"/set: unknown key {key!r} (known: {known})")
    raw = raw.strip()
    if not raw:
        chat.ui.info(f"{key} = {json.dumps(prof.settings().get(key), ensure_ascii=False)}")
        return
    if key == "system":
        cmd_system(chat, raw)
        return
    change(chat, {key: _parse_value(key, raw)})


def change(chat: Chat, changes: dict[str, Any]) -> None:
    """Apply validated settings to the session's profile; log them."""
    prof = chat.session.profile
    defaults = Profile()
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if value is _UNSET:
            values[key] = getattr(defaults, key)
            continue
        try:
            values[key] = profiles.validate(key, value)
        except ValueError as e:
            raise UsageError(f"{key}: {e}") from None
    if values.get("model", prof.model) != prof.model:
        # The profile's [price], window and output limit describe its old model: a saved
        # profile (and every estimate) must not carry them over to the new one.
        for key in ("price", "context_window", "max_output_tokens"):
            values.setdefault(key, None)
    new = dataclasses.replace(prof, **values, sources={**prof.sources, **{k: "chat" for k in values}})
    chat.session.with_profile(new)
    logged = {k: v for k, v in new.settings().items() if k in values}
    chat.session.note("settings changed: " + ", ".join(values), kind="settings", changes=logged)
    chat._context = None
    chat.ui.info(", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in logged.items()))


def cmd_reset(chat: Chat, arg: str) -> None:
    chat.session.reset()
    chat._context = None
    chat.ui.info("new conversation" + (" (same system prompt)" if chat.session.system else ""))


def cmd_undo(chat: Chat, arg: str) -> None:
    dropped = chat.session.undo()
    chat._context = None
    question = _preview(str(dropped[0].get("content") or ""))
    chat.ui.info(f"undone: {question}" + ("" if len(dropped) > 1 else " (it had no reply)"))


def cmd_retry(chat: Chat, arg: str) -> None:
    if chat.session.failed_turn is None and not any(m["role"] == "user" for m in chat.session.messages):
        raise UsageError("nothing to retry yet")  # a command's mistake, not a failed turn
    turn = chat._exchange(chat.turn(None))
    if turn is not None:
        chat.failed = None


def cmd_title(chat: Chat, arg: str) -> None:
    if not arg:
        title = chat.session.title
        chat.ui.info(f"title: {title}" if title else "no title yet (the first message gives one; /title TEXT sets it)")
        return
    chat.session.set_title(unquote(arg))
    chat.ui.info(f"title: {chat.session.title}")


def cmd_x(chat: Chat, arg: str) -> None:
    from .extract import extract

    which = {"": "first", "all": "all"}.get(arg.strip().lower())
    if which is None:
        raise UsageError("usage: /x [all]")
    reply = next((m for m in reversed(chat.session.messages) if m["role"] == "assistant"), None)
    if reply is None:
        raise UsageError("no reply yet to take code from")
    got = extract(str(reply.get("content") or ""), which)
    if got.warning:
        chat.ui.warn(got.warning)
    chat.ui.info(escape_controls(got.text))


def cmd_tokens(chat: Chat, arg: str) -> None:
    ctx = chat.session.context()
    chat._context = ctx
    about = "" if ctx.exact else "about "
    line = f"{about}{ctx.tokens:,} tokens in context ({ctx.exchanges} exchange{'s' if ctx.exchanges != 1 else ''})"
    if ctx.window:
        line += f" of {chat.session.profile.model}'s {ctx.window:,} ({100 * ctx.tokens / ctx.window:.1f}%)"
        if chat.session.profile.max_tokens:
            line += f"; {chat.session.profile.max_tokens:,} kept free for the reply (max_tokens)"
    else:
        line += f"; the context window of {chat.session.profile.model} is unknown (set context_window)"
    chat.ui.info(line)


def cost_text(chat: Chat) -> str:
    if chat.unpriced and chat.unpriced == chat.replies:
        return "cost unknown"
    if not chat.replies and not _price_known(chat.session.profile):
        return "cost unknown"  # from the start, not "$0" until the first reply says otherwise
    return usd(chat.session.total_cost) + (" + unknown" if chat.unpriced else "")


def cmd_reasoning(chat: Chat, arg: str) -> None:
    if not chat.last_reasoning:
        chat.ui.info("the last reply came with no visible reasoning")
        return
    chat.ui.info(strip_controls(chat.last_reasoning))


def cmd_cost(chat: Chat, arg: str) -> None:
    replies = f"{chat.replies} repl{'y' if chat.replies == 1 else 'ies'}"
    line = f"this session: {cost_text(chat)} for {replies}"
    if chat.unpriced:
        line += f" ({chat.unpriced} at a price unknown for {chat.session.profile.model}: set [price] in the profile)"
    chat.ui.info(line)


def cmd_save_profile(chat: Chat, arg: str) -> None:
    words = arg.split()
    force = "--force" in words
    names = [w for w in words if w != "--force"]
    if len(names) != 1:
        raise UsageError("usage: /save-profile NAME [--force]")
    path = profiles.write_user_profile(names[0], profile_table(chat), force=force)
    chat.ui.info(f"saved {profiles.display_path(path)} (use it with: gptcli chat -p {names[0]})")


def profile_table(chat: Chat) -> dict[str, Any]:
    """The current settings as a self-contained TOML table (credential headers left out)."""
    prof = chat.session.profile
    table = profiles.to_toml_table(prof)
    table.pop("system", None)
    table.pop("headers", None)
    headers = {k: v for k, v in prof.settings()["headers"].items() if v != "[redacted]"}
    if headers:
        table["headers"] = headers
    if prof.sources.get("base_url") == "env OPENAI_BASE_URL":
        table.pop("base_url", None)  # the environment's server, not a setting of this profile
    table["model"] = prof.model
    table["description"] = f"saved from gptcli chat (profile {prof.name}) on {date.today().isoformat()}"
    if chat.session.system:
        table["system"] = chat.session.system
    return {"description": table.pop("description"), **table}


class _Unset:
    def __repr__(self) -> str:
        return "unset"


_UNSET: Any = _Unset()


def _parse_value(key: str, raw: str) -> Any:
    """/set's VALUE: JSON (0.2, 300, ["a", "b"], {"top_k": 40}) or a bare word; 'none' unsets."""
    if raw.lower() in _UNSET_WORDS:
        return _UNSET
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:  # a model named "4" is a string: keep the word when only the word fits the key
            profiles.validate(key, value)
        except ValueError:
            try:
                profiles.validate(key, raw)
                return raw
            except ValueError:
                pass
    return value


def _price_known(prof: Profile) -> bool:
    from . import prices

    try:
        return prices.info_for(prof).price is not None
    except Exception:  # advisory only: the toolbar must never break input
        return False


def _preview(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


HANDLERS: dict[str, Callable[[Chat, str], None]] = {
    "help": cmd_help,
    "system": cmd_system,
    "model": cmd_model,
    "profile": cmd_profile,
    "set": cmd_set,
    "reset": cmd_reset,
    "undo": cmd_undo,
    "retry": cmd_retry,
    "title": cmd_title,
    "x": cmd_x,
    "tokens": cmd_tokens,
    "reasoning": cmd_reasoning,
    "cost": cmd_cost,
    "save-profile": cmd_save_profile,
    "copy": chat_extras.cmd_copy,
    "edit": chat_extras.cmd_edit,
    "attach": chat_attach.cmd_attach,
    "attachments": chat_attach.cmd_attachments,
    "detach": chat_attach.cmd_detach,
}
