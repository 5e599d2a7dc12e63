"""From a profile and messages to a request body, and from the body to a reply.

Owns the parameter rules per model family (one table, ``RULES``; documented in
docs/model-families.md), the API key lookup, the choice of backend (``backend_for``)
and the "second chance": a 400 that names an unsupported parameter drops it and
retries once. Servers are only reached through a ``backend.Backend``; the OpenAI one
imports its SDK on first use, so nothing that merely builds or prints a request pays
for importing it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from . import backends, settings
from .backend import AsyncChat, Backend, BatchAPI
from .errors import APIError, AuthError, ConfigError
from .models import OPENAI_BASE_URL, Completion, Delta, Profile, RequestDescription, ServerModel

OPENAI_HOST = urlparse(OPENAI_BASE_URL).hostname


def is_openai(base_url: str | None) -> bool:
    return base_url is None or urlparse(base_url).hostname == OPENAI_HOST


def base_model(model: str) -> str:
    """``openai/o3`` -> ``o3``; ``ft:gpt-4o-mini:org::id`` -> ``gpt-4o-mini``."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name.rsplit("/", 1)[-1]


# --- the rules table ------------------------------------------------------------------
#
# Sources: litellm's o-series and gpt-5 transformations, smolagents'
# supports_stop_parameter, OpenAI's error messages in public issues, and per-model
# reasoning_effort probes; docs/model-families.md has the resulting table. Where a rule
# is unsure, the safe direction is to *send*: a rejected parameter costs one unbilled 400
# and the second chance drops it, while a parameter dropped by mistake is lost without trace.

_SAMPLING = frozenset({"temperature", "top_p"})
_LOGPROBS = frozenset({"logprobs", "top_logprobs"})
_PENALTIES = frozenset({"presence_penalty", "frequency_penalty", "logit_bias"})
# Allowed again on gpt-5.1+ when reasoning_effort is "none" (the model then samples normally).
_AT_EFFORT_NONE = _SAMPLING | _LOGPROBS


@dataclass(frozen=True)
class FamilyRule:
    """What one model family accepts. The first rule whose pattern matches wins."""

    family: str
    pattern: str  # matched against base_model(name)
    examples: str = ""  # for the docs table
    reasoning: bool = False  # OpenAI reasoning model: the token limit is max_completion_tokens
    drop: frozenset[str] = frozenset()  # always left out
    only_one: frozenset[str] = frozenset()  # left out unless equal to 1
    # Accepted reasoning_effort values: () = the family takes no reasoning_effort;
    # None = not known (a third-party model): sent as given, the server decides.
    efforts: tuple[str, ...] | None = ()
    at_effort_none: frozenset[str] = frozenset()  # keys kept after all when reasoning_effort is "none"

    def matches(self, model: str) -> bool:
        return re.match(self.pattern, model) is not None


_O_EFFORTS = ("low", "medium", "high")

RULES: tuple[FamilyRule, ...] = (
    # gpt-5-chat-latest and friends are plain chat models, not reasoning ones (they take temperature).
    FamilyRule("gpt-N-chat", r"^gpt-\d+(\.\d+)?-chat", "gpt-5-chat-latest, gpt-5.1-chat-latest"),
    FamilyRule(
        "gpt-3.5 / gpt-4 / gpt-4o / gpt-4.1",
        r"^(gpt-3\.5|gpt-35|gpt-4|chatgpt-4o)",
        "gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4-turbo, gpt-3.5-turbo",
        drop=frozenset({"verbosity"}),
    ),
    FamilyRule(
        "o1",
        r"^o1(-|$)",
        "o1, o1-2024-12-17",
        True,
        _PENALTIES | _LOGPROBS | {"verbosity"},
        _SAMPLING,
        _O_EFFORTS,
    ),
    # o3-mini is the one o-series model that still takes stop.
    FamilyRule(
        "o3-mini",
        r"^o3-mini(-|$)",
        "o3-mini",
        True,
        _PENALTIES | _LOGPROBS | {"verbosity"},
        _SAMPLING,
        _O_EFFORTS,
    ),
    FamilyRule(
        "o3 / o4-mini",
        r"^o[3-9](-|$)",
        "o3, o4-mini",
        True,
        _PENALTIES | _LOGPROBS | {"stop", "verbosity"},
        _SAMPLING,
        _O_EFFORTS,
    ),
    FamilyRule(
        "gpt-5",
        r"^gpt-5(-|$)",
        "gpt-5, gpt-5-mini, gpt-5-nano",
        True,
        _PENALTIES | _LOGPROBS | {"stop"},
        _SAMPLING,
        ("minimal", "low", "medium", "high"),
    ),
    FamilyRule(
        "gpt-5.1",
        r"^gpt-5\.1(-|$)",
        "gpt-5.1",
        True,
        _PENALTIES | _LOGPROBS | {"stop"},
        _SAMPLING,
        ("none", "low", "medium", "high"),
        _AT_EFFORT_NONE,
    ),
    FamilyRule(
        "gpt-5.2 - 5.5",
        r"^gpt-5\.[2-5](-|$)",
        "gpt-5.2, gpt-5.4, gpt-5.5",
        True,
        _PENALTIES | _LOGPROBS | {"stop"},
        _SAMPLING,
        ("none", "low", "medium", "high", "xhigh"),
        _AT_EFFORT_NONE,
    ),
    FamilyRule(
        "gpt-5.6+",
        r"^gpt-5\.([6-9]|\d\d+)(-|$)",
        "gpt-5.6, gpt-5.6-terra",
        True,
        _PENALTIES | _LOGPROBS | {"stop"},
        _SAMPLING,
        ("none", "low", "medium", "high", "xhigh", "max"),
        _AT_EFFORT_NONE,
    ),
    # gpt-6 always reasons: no "none" effort (reported for gpt-6-astra).
    FamilyRule(
        "gpt-6+",
        r"^gpt-([6-9]|\d\d+)(\.\d+)?(-|$)",
        "gpt-6, gpt-6-astra",
        True,
        _PENALTIES | _LOGPROBS | {"stop"},
        _SAMPLING,
        ("low", "medium", "high", "xhigh", "max"),
    ),
    # Open-weight, served by vLLM / Ollama / llama.cpp: normal sampling, three effort levels.
    FamilyRule("gpt-oss", r"^gpt-oss", "gpt-oss-20b, gpt-oss:120b", efforts=_O_EFFORTS),
)
# Everything else (llama3.2, qwen3, deepseek-chat, claude-... behind a proxy): sent as given.
PLAIN = FamilyRule("other", r"", "llama3.2, qwen3, deepseek-chat, mistral-large", efforts=None)


def rule_for(model: str) -> FamilyRule:
    name = base_model(model)
    for rule in RULES:
        if rule.matches(name):
            return rule
    return PLAIN


def token_limit_param(profile: Profile, rule: FamilyRule | None = None) -> str:
    """Which name the output limit travels under.

    The profile's ``token_limit_param`` wins. Otherwise OpenAI reasoning models get
    ``max_completion_tokens`` wherever they are served (OpenAI, Azure, a proxy: they reject
    ``max_tokens``), OpenAI's own host gets it for every model (``max_tokens`` is
    deprecated there), and every other server gets ``max_tokens`` (Ollama silently ignores
    ``max_completion_tokens``; older llama.cpp and vLLM builds do not know it).
    """
    if profile.token_limit_param is not None:
        return profile.token_limit_param
    rule = rule or rule_for(profile.model)
    return "max_completion_tokens" if rule.reasoning or is_openai(profile.base_url) else "max_tokens"


@dataclass(frozen=True)
class BuiltRequest:
    body: dict[str, Any]
    notes: tuple[str, ...]  # what was dropped or renamed, and why


def build_body(profile: Profile, messages: list[dict[str, Any]], *, stream: bool) -> BuiltRequest:
    """The exact JSON body to send: only keys that are set, adapted to the model family.

    Profile settings and the ``[params]`` table / ``--param`` fields go through the same
    rules, so a ``logit_bias`` in ``[params]`` is left out for o3 like a temperature is.
    """
    rule = rule_for(profile.model)
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


def rules_markdown() -> str:
    """The rules table as Markdown: docs/model-families.md embeds it (a test keeps them equal)."""

    def cell(keys: frozenset[str]) -> str:
        return ", ".join(f"`{k}`" for k in sorted(keys)) or "-"

    head = (
        "| family | examples | token limit sent as | left out unless 1 | always left out | reasoning_effort |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = []
    for rule in (*RULES, PLAIN):
        limit = "`max_completion_tokens`" if rule.reasoning else "host default"
        if rule.efforts is None:
            efforts = "sent as given"
        elif not rule.efforts:
            efforts = "left out"
        else:
            efforts = ", ".join(f"`{e}`" for e in rule.efforts)
        if rule.at_effort_none:
            efforts += f" (at `none`, {cell(rule.at_effort_none)} are kept)"
        rows.append(
            f"| {rule.family} | {rule.examples} | {limit} | {cell(rule.only_one)} | {cell(rule.drop)} | {efforts} |"
        )
    return head + "\n".join(rows) + "\n"


# --- the key ---------------------------------------------------------------------------

PLACEHOLDER_KEY = "sk-no-key-required"


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
    return backend_for(profile).async_chat(profile, key)


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
    """The body key a 400 names as unsupported, if dropping it could help; else None."""
    if error.status not in (400, 422) or error.code not in SECOND_CHANCE_CODES or not error.param:
        return None
    param = error.param.split(".", 1)[0].split("[", 1)[0]
    if param in _ESSENTIAL or param not in body:
        return None
    return param
