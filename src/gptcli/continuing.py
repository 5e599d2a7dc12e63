"""Continuing a saved conversation: the settings it ran with, and where it may be sent.

``saved`` reads what a conversation last ran with from its log: the meta record's
``profile``, ``settings``, ``output`` and ``title``, then every ``settings`` note (chat's
``/set``, ``/model``, ``/profile``, and flags given when continuing) and ``title`` note,
in order. ``restore`` turns that into the Profile a continuing command runs with: the
saved values (never a key: ``api_key_cmd`` and credential headers come from the profile
as it is now), and the command line's flags on top. ``open_session`` then resumes the
conversation and logs what the flags changed.

The server never changes silently. The conversation goes back to the server it ran
on, unless ``--base-url`` or ``-p`` on the command line names another (consent, logged).
When only the environment (``OPENAI_BASE_URL``, ``GPTCLI_BASE_URL``) points elsewhere,
``restore`` refuses (``ServerChangeError``, exit 3) unless ``--to-server`` is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import profiles, store
from .errors import ConfigError, NotFoundError
from .models import OPENAI_BASE_URL, Profile, redact_url

SERVER_FLAG = "--to-server"
# Not restored from the log as settings: identity, the system prompt (it lives in the
# messages), headers (merged below: credential values are redacted in the log) and the
# server (checked on its own).
_SPECIAL = frozenset({"name", "description", "system", "headers", "base_url"})


class ServerChangeError(ConfigError):
    """Continuing would send a conversation to another server than the one it ran on."""


@dataclass(frozen=True)
class Saved:
    """What a conversation last ran with, as its log says."""

    profile: str | None
    settings: dict[str, Any]
    output: dict[str, Any] | None  # structured-output mode: {"kind", "response_format", ...}
    title: str | None

    @property
    def server(self) -> str:
        """The server it ran on (a password in the URL already ``[redacted]``)."""
        url = self.settings.get("base_url")
        return (redact_url(url) or OPENAI_BASE_URL) if isinstance(url, str) and url else OPENAI_BASE_URL


def saved(conv: store.Conversation) -> Saved:
    meta = conv.meta
    name = meta.get("profile") if isinstance(meta.get("profile"), str) else None
    settings = dict(meta["settings"]) if isinstance(meta.get("settings"), dict) else {}
    output = meta.get("output") if isinstance(meta.get("output"), dict) else None
    title = meta.get("title") if isinstance(meta.get("title"), str) else None
    for note in conv.notes:
        kind = note.get("kind")
        if kind == "settings":
            if isinstance(note.get("profile"), str) and isinstance(note.get("settings"), dict):
                name, settings = note["profile"], dict(note["settings"])
            changes = note.get("changes")
            if isinstance(changes, dict):
                for key, value in changes.items():
                    if key == "output":
                        output = value if isinstance(value, dict) else None
                    else:
                        settings[key] = value
        elif kind == "title" and isinstance(note.get("title"), str):
            title = note["title"]
    return Saved(name, settings, output, title)


@dataclass(frozen=True)
class Restored:
    """The profile a continuing command runs with, and what its flags changed."""

    profile: Profile
    saved: Saved
    changes: dict[str, Any]  # settings the flags changed, as logged (``Profile.settings`` form)
    switched: bool  # -p on the command line: that profile's settings replace the saved ones
    server: tuple[str, str] | None  # (from, to), redacted: the conversation moves, with consent
    consent: str | None = None  # what allowed the move: --base-url, -p NAME, --to-server


def _resolve(name: str | None, flags: Mapping[str, Any], *, given: bool) -> Profile:
    try:
        return profiles.resolve(name, flags)
    except NotFoundError:
        if name is None or given:
            raise
        # The conversation's profile is gone: its saved settings are all we need.
        return dataclasses.replace(profiles.resolve(None, flags), name=name)


# Never taken from the log: a key command, the tool servers (their secrets are redacted there) and
# what may run without asking (a profile tightened since must not be loosened by an old conversation).
_PROFILE_ONLY = frozenset({"api_key_cmd", "mcp", "tools"})


def _restored_values(s: Saved, base: Profile, flags: Mapping[str, Any]) -> dict[str, Any]:
    defaults = Profile()
    values: dict[str, Any] = {}
    for key, value in s.settings.items():
        if key in _SPECIAL or key in flags or key not in profiles.VALIDATORS or key in _PROFILE_ONLY:
            continue
        if value is None:
            if getattr(defaults, key, 0) is None:
                values[key] = None
            continue
        if key == "price" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        try:
            values[key] = profiles.validate(key, value)
        except (ValueError, KeyError):
            continue  # a hand-edited log: the profile's value stands
    headers = s.settings.get("headers")
    if isinstance(headers, dict):
        kept = {k: v for k, v in headers.items() if isinstance(v, str) and v != "[redacted]"}
        values["headers"] = {**base.headers, **kept}
    return values


def restore(
    conv: store.Conversation, flags: Mapping[str, Any], profile_flag: str | None = None, *, to_server: bool = False
) -> Restored:
    """The Profile to continue ``conv`` with: its saved settings, then ``flags`` (and ``-p``)."""
    s = saved(conv)
    flags = {k: v for k, v in flags.items() if v is not None}
    if not s.settings:  # no gptcli metadata (an OpenAI-format file): today's profile and flags
        return Restored(profiles.resolve(profile_flag, flags), s, {}, profile_flag is not None, None)
    base = _resolve(profile_flag or s.profile, flags, given=profile_flag is not None)
    if profile_flag is not None:
        prof, switched = base, True
    else:
        values = _restored_values(s, base, flags)
        sources = {**base.sources, **{k: f"conversation {conv.id}" for k in values}}
        prof, switched = dataclasses.replace(base, **values, sources=sources), False
    prof = dataclasses.replace(prof, system=base.system if switched else flags.get("system", conv.system))
    prof, server, consent = _server(conv, s, prof, base, flags, profile_flag, to_server)
    now = prof.settings()
    changes = {k: now[k] for k in flags if k in now and k != "system" and s.settings.get(k) != now[k]}
    if server is not None:
        changes["base_url"] = now["base_url"]  # the conversation lives there from now on
    return Restored(prof, s, changes, switched, server, consent)


def _server(
    conv: store.Conversation,
    s: Saved,
    prof: Profile,
    base: Profile,
    flags: Mapping[str, Any],
    profile_flag: str | None,
    to_server: bool,
) -> tuple[Profile, tuple[str, str] | None, str | None]:
    """Where this run sends the conversation; refuse a move nobody asked for."""
    here = redact_url(base.server_url) or OPENAI_BASE_URL
    source = base.sources.get("base_url", "default")
    if "base_url" in flags or profile_flag is not None:
        consent = "--base-url" if "base_url" in flags else f"-p {profile_flag}"
    elif source.startswith("env") and here != s.server:
        if not to_server:
            raise ServerChangeError(
                f"conversation {conv.id} ran on {s.server}, and {source} would send it to {here}: "
                f"refused (to move it there, add {SERVER_FLAG}; to keep it, unset {source.split()[-1]})"
            )
        consent = SERVER_FLAG
    else:
        url = s.settings.get("base_url")
        url = url if isinstance(url, str) and url else None
        if url is not None and "[redacted]" in url:
            if redact_url(base.base_url) != url:
                raise ConfigError(
                    f"conversation {conv.id} ran on {url}, whose password is not stored",
                    hint="give the server with --base-url",
                )
            url = base.base_url
        sources = {**prof.sources, "base_url": f"conversation {conv.id}"}
        return dataclasses.replace(prof, base_url=url, sources=sources), None, None
    moved = (s.server, here) if here != s.server else None
    return dataclasses.replace(prof, base_url=base.base_url), moved, consent


def change_text(r: Restored) -> str | None:
    """One line saying what the continuing command's flags changed (None: nothing)."""
    parts = []
    if r.switched:
        parts.append(f"profile {r.profile.name}")
    parts.extend(f"{k}={v!r}" for k, v in r.changes.items() if k != "base_url")
    if r.server is not None:
        parts.append(f"server {r.server[0]} -> {r.server[1]} ({r.consent})")
    return ("continuing with " + ", ".join(parts)) if parts else None


@dataclass
class Continued:
    """A resumed session, what it was restored from, and lines worth telling the user."""

    session: Any  # conversation.Session
    restored: Restored
    conv: store.Conversation
    notices: list[str] = dataclasses.field(default_factory=list)


def open_session(
    ref: str | None,
    flags: Mapping[str, Any],
    profile_flag: str | None = None,
    *,
    log: bool = True,
    to_server: bool = False,
    title: str | None = None,
    output: dict[str, Any] | None = None,
) -> Continued:
    """Continue conversation ``ref`` (None: the last) as it ran, with ``flags`` on top, logged.

    ``output`` is the structured-output mode given on this command line (None: the saved one).
    """
    from . import conversation

    lock = None
    path = store.resolve(ref)
    if log and path.resolve().parent == store.conversations_dir().resolve():
        # Locked before reading (only the store is written to): a parallel `ask -c` waits,
        # then sees this turn in the history (issue 17 #6).
        lock = conversation.lock_conversation(path)
    try:
        conv = store.load(path)
        r = restore(conv, flags, profile_flag, to_server=to_server)
        session = conversation.Session.resume(r.profile, conv, log=log)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    session._lock = lock
    text = change_text(r)
    extra: dict[str, Any] = {}
    if r.server is not None:
        extra["server"] = {"from": r.server[0], "to": r.server[1], "consent": r.consent}
    if output is not None and output != r.saved.output:
        r.changes["output"] = output
    if r.switched:
        session.note(text or "", kind="settings", profile=r.profile.name, settings=r.profile.settings(), **extra)
        if output is not None and output != r.saved.output:
            session.note("output mode changed", kind="settings", changes={"output": output})
    elif r.changes or extra:
        session.note(text or "", kind="settings", changes=r.changes, **extra)
    notices = [text] if text else []
    if (r.profile.system or None) != (session.system or None):
        session.set_system(r.profile.system)
    if title:
        session.set_title(title)
    else:
        first = next((str(m.get("content") or "") for m in conv.records if m.get("role") == "user"), "")
        known = r.saved.title or (conversation.make_title(first) if first else None)
        if known:
            session._meta.setdefault("title", known)  # shown, not written again
    return Continued(session, r, conv, notices)


def output_record(spec: Any) -> dict[str, Any] | None:
    """A structured-output spec (``structured.OutputSpec``) as the log keeps it."""
    if spec is None:
        return None
    return {"kind": spec.kind, "response_format": spec.response_format, "schema": spec.schema, "source": spec.source}


def output_spec(record: dict[str, Any] | None) -> Any:
    """The ``structured.OutputSpec`` a saved record describes (None: free text, or unreadable)."""
    if not record or record.get("kind") not in ("json_object", "json_schema"):
        return None
    from .structured import OutputSpec

    fmt = record.get("response_format")
    if not isinstance(fmt, dict):
        return None
    schema = record.get("schema") if isinstance(record.get("schema"), dict) else None
    source = record.get("source") if isinstance(record.get("source"), str) else None
    return OutputSpec(str(record["kind"]), fmt, schema, source)
