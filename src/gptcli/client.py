"""From a profile and messages to a request body, and from the body to a reply.

Owns ``build_body`` (applying the parameter rules per model family, ``families.RULES``,
documented in docs/model-families.md), the API key lookup, the choice of backend (``backend_for``)
and the "second chance": a 400 that names an unsupported parameter drops it and
retries once. Servers are only reached through a ``backend.Backend``; the OpenAI one
imports its SDK on first use, so nothing that merely builds or prints a request pays
for importing it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from . import backends, settings
from .backend import AsyncChat, Backend, BatchAPI
from .errors import APIError, AuthError, ConfigError

# The family rules live in families.py; these names stay importable from here (build_body applies them).
from .families import OPENAI_HOST as OPENAI_HOST
from .families import PLAIN as PLAIN
from .families import REASONING as REASONING
from .families import RULES as RULES
from .families import FamilyRule as FamilyRule
from .families import family_names as family_names
from .families import is_openai as is_openai
from .families import rule_for as rule_for
from .families import rule_for_profile as rule_for_profile
from .families import rules_markdown as rules_markdown
from .families import token_limit_param as token_limit_param
from .models import Completion, Delta, Profile, RequestDescription, ServerModel


@dataclass(frozen=True)
class BuiltRequest:
    body: dict[str, Any]
    notes: tuple[str, ...]  # what was dropped or renamed, and why


def build_body(profile: Profile, messages: list[dict[str, Any]], *, stream: bool) -> BuiltRequest:
    """The exact JSON body to send: only keys that are set, adapted to the model family.

    Profile settings and the ``[params]`` table / ``--param`` fields go through the same
    rules, so a ``logit_bias`` in ``[params]`` is left out for o3 like a temperature is.
    """
    rule = rule_for_profile(profile)
    notes: list[str] = []
    body: dict[str, Any] = {"model": profile.model, "messages": messages}
    wanted: dict[str, Any] = {
        "temperature": profile.temperature,
        "top_p": profile.top_p,
        "n": profile.n if profile.n != 1 else None,
        "stop": list(profile.stop) or None,
        "seed": profile.seed,
        "presence_penalty": profile.presence_penalty,
        "frequency_penalty": profile.frequency_penalty,
        "reasoning_effort": profile.reasoning_effort,
        "max_tokens": profile.max_tokens,
    }
    for key, value in profile.params.items():
        if key in ("max_completion_tokens", "max_tokens"):
            key = "max_tokens"  # one limit, sent under the name token_limit_param picks
        wanted[key] = value
    effort = wanted.get("reasoning_effort")
    relaxed = effort == "none" and rule.efforts is not None and "none" in rule.efforts
    limit_name = token_limit_param(profile, rule)
    for key, value in wanted.items():
        if value is None:
            continue
        if key == "max_tokens":
            if limit_name != "max_tokens":
                why = (
                    f"{rule.family} models take only max_completion_tokens"
                    if rule.reasoning and profile.token_limit_param is None
                    else "OpenAI's current name"
                    if profile.token_limit_param is None
                    else "token_limit_param in the profile"
                )
                notes.append(f"max_tokens sent as {limit_name} ({why})")
            body[limit_name] = value
            continue
        if key == "reasoning_effort" and rule.efforts is not None:
            if not rule.efforts:
                notes.append(f"reasoning_effort dropped: {profile.model} is not a reasoning model")
                continue
            if value not in rule.efforts:
                notes.append(f"reasoning_effort={value!r} dropped: {rule.family} models take {', '.join(rule.efforts)}")
                continue
        elif key in rule.drop and not (relaxed and key in rule.at_effort_none):
            notes.append(f"{key} dropped: not supported by {rule.family} models")
            continue
        elif key in rule.only_one and value != 1 and not (relaxed and key in rule.at_effort_none):
            notes.append(f"{key}={value} dropped: {rule.family} models accept only the default (1)")
            continue
        body[key] = value
    if stream:
        body["stream"] = True
        if profile.include_usage:
            body["stream_options"] = {"include_usage": True}
    return BuiltRequest(body, tuple(notes))


# --- the key ---------------------------------------------------------------------------

PLACEHOLDER_KEY = "sk-no-key-required"  # the same as backends.openai_wire.PLACEHOLDER_KEY


def api_key(profile: Profile) -> str:
    """The key from ``api_key_cmd`` or the variable ``api_key_env`` names.

    Servers other than OpenAI's often need no key (Ollama, vLLM, llama.cpp): for
    them a missing key sends a placeholder, and a server that does want one answers 401.
    """
    if profile.api_key_cmd:
        return _key_from_command(profile.api_key_cmd)
    key = settings.env(profile.api_key_env)
    if key and key.strip():
        return _checked_key(key.strip(), f"${profile.api_key_env}")
    if not is_openai(profile.base_url) or settings.env("GPTCLI_CASSETTE"):
        # (A cassette asks for the key only for a request it has not recorded.)
        return PLACEHOLDER_KEY
    raise AuthError(
        f"no API key: set {profile.api_key_env} (export {profile.api_key_env}=sk-...)",
        hint="or use a local server with: gptcli ask -p local",
    )


def _key_from_command(cmd: tuple[str, ...]) -> str:
    shown = cmd[0]
    try:
        done = subprocess.run(list(cmd), capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ConfigError(f"api_key_cmd: command not found: {shown}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"api_key_cmd: {shown} did not finish in 30 s") from None
    except OSError as e:
        raise ConfigError(f"api_key_cmd: cannot run {shown}: {e.strerror}") from None
    if done.returncode != 0:
        # Its stderr is not shown: a password manager may print anything there.
        raise AuthError(f"api_key_cmd: {shown} exited with {done.returncode}")
    # The first line, as `pass show` puts the password there and metadata after it.
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    key = lines[0].strip() if lines else ""
    if not key:
        raise AuthError(f"api_key_cmd: {shown} printed no key")
    return _checked_key(key, f"api_key_cmd {shown}")


def _checked_key(key: str, where: str) -> str:
    """Refuse a key that cannot be an HTTP header value, without ever echoing it.

    Left alone, such a key makes the HTTP library fail with the header (key included)
    in its message.
    """
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise AuthError(
            f"the API key from {where} contains spaces, line breaks, control or non-ASCII characters",
            hint="check for a stray character picked up when it was copied",
        )
    return key


# --- sending ---------------------------------------------------------------------------

SECOND_CHANCE_CODES = ("unsupported_parameter", "unsupported_value")
# Never dropped: without them there is no request, or not the one the user asked for
# (a reply without the requested response_format would not be the JSON they wait for).
_ESSENTIAL = frozenset({"model", "messages", "response_format"})


def backend_for(profile: Profile) -> Backend:
    """The backend the profile's ``backend`` key names (``openai`` unless set), behind the
    cassette that ``GPTCLI_CASSETTE`` names, if any."""
    from .backends import cassette

    return cassette.wrap(backends.load(profile.backend), need_key=_key_for_cassette)


def _key_for_cassette(key: str, profile: Profile) -> None:
    """A request a cassette has not recorded goes to the server, and OpenAI's needs a key."""
    if key == PLACEHOLDER_KEY and is_openai(profile.base_url):
        raise AuthError(
            f"no API key: set {profile.api_key_env} (this request is not in the cassette, so it goes to the server)",
            hint="or replay only what is recorded: GPTCLI_CASSETTE_MODE=replay",
        )


def send(
    profile: Profile,
    body: dict[str, Any],
    *,
    key: str,
    notice: Callable[[str], None],
    backend: Backend | None = None,
) -> Generator[Delta, None, Completion]:
    """Send ``body``; yield text deltas; return the finished Completion.

    The second chance: a 400 naming a parameter the body set (``unsupported_parameter``
    or ``unsupported_value``) drops that parameter and retries once. Rejected requests
    are not billed, and unknown future models then still work. A refused output limit
    (``max_tokens`` / ``max_completion_tokens``) is renamed to the other name rather than
    dropped, so the limit holds. ``body`` is updated in place: afterwards it is what was
    last sent. ``backend`` defaults to the profile's.
    """
    backend = backend or backend_for(profile)
    profile = with_deadline(profile)
    try:
        return (yield from backend.chat(profile, body, key=key))
    except APIError as e:
        param = second_chance(e, body)
        if param is None:
            raise
        other = _LIMIT_NAMES.get(param)
        if other and other not in body and e.code == "unsupported_parameter":
            body[other] = body.pop(param)
            notice(
                f"the server rejected {param!r} ({e.code}); retrying once with {other!r}"
                f' (set token_limit_param = "{other}" in the profile to skip this)'
            )
        else:
            body.pop(param)
            if param == "stream":
                body.pop("stream_options", None)
            notice(f"the server rejected {param!r} ({e.code}); retrying once without it{_SWITCHES.get(param, '')}")
        return (yield from backend.chat(profile, body, key=key))


# The output limit's two names: a server that refuses one gets the other, so the limit holds.
_LIMIT_NAMES = {"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}
# Profile switches that avoid the extra request next time.
_SWITCHES = {"stream_options": " (set include_usage = false in the profile to skip this)"}


def list_models(profile: Profile, key: str) -> list[ServerModel]:
    """The server's model list (id, owned_by, created), in the server's order."""
    return backend_for(profile).list_models(profile, key)


def async_chat(profile: Profile, key: str) -> AsyncChat:
    """A sender for many requests at once (``batch``).

    One attempt per ``await sender.send(body)``, returning an ``Outcome``; the caller retries.
    """
    return backend_for(profile).async_chat(with_deadline(profile), key)


def with_deadline(profile: Profile) -> Profile:
    """``profile`` with its ``deadline`` set: the profile's, else 10 minutes (30 for reasoning models)."""
    if profile.deadline is not None:
        return profile
    from dataclasses import replace

    from .backends.deadline import default_for

    return replace(profile, deadline=default_for(rule_for(profile.model).reasoning))


def preload(profile: Profile | None = None) -> None:
    """Do the backend's slow imports now (batch does it in a thread while it reads the input)."""
    backend_for(profile or Profile()).preload()


def batch_api(profile: Profile, key: str) -> BatchAPI:
    """The server's asynchronous batch endpoints (OpenAI's Files and Batches)."""
    return backend_for(profile).batch_api(profile, key)


def describe_request(profile: Profile, body: dict[str, Any]) -> RequestDescription:
    """The HTTP request ``body`` becomes (``--dry-run``), the key redacted; sends nothing."""
    return backend_for(profile).describe_request(profile, body)


def second_chance(error: APIError, body: dict[str, Any]) -> str | None:
    """The body key a 400 names as unsupported, if dropping it could help; else None.

    OpenAI names it in ``param``; other servers only in words ("O-series models don't
    support temperature=0.3", "does not support parameters: ['top_p']"), so the message
    is read for a key the body set (``classify.named_parameter``).
    """
    if error.status not in (400, 422) or error.code not in SECOND_CHANCE_CODES:
        return None
    param = error.param.split(".", 1)[0].split("[", 1)[0] if error.param else None
    if param is None or param not in body:
        from .backends.classify import named_parameter

        candidates = [k for k in body if k not in _ESSENTIAL]
        param = named_parameter(" ".join(filter(None, (error.message, error.detail))), candidates)
    if param is None or param in _ESSENTIAL or param not in body:
        return None
    return param
