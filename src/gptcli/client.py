"""From a profile and messages to a request body, and from the body to a reply.

Owns the parameter rules per model family (one table, ``RULES``; documented in
docs/model-families.md), the API key lookup, and the "second chance": a 400 that
names an unsupported parameter drops it and retries once. The openai SDK is only
reached through ``openai_backend``, imported inside ``send`` so that nothing that
merely builds or prints a request pays for importing it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from . import settings
from .errors import APIError, AuthError, ConfigError
from .models import Completion, Delta, Profile

OPENAI_HOST = "api.openai.com"


def is_openai(base_url: str | None) -> bool:
    return base_url is None or urlparse(base_url).hostname == OPENAI_HOST


def base_model(model: str) -> str:
    """``openai/o3`` -> ``o3``; ``ft:gpt-4o-mini:org::id`` -> ``gpt-4o-mini``."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name.rsplit("/", 1)[-1]


# --- the rules table ------------------------------------------------------------------

_SAMPLING = frozenset({"temperature", "top_p"})
_PENALTIES = frozenset({"presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs"})


@dataclass(frozen=True)
class FamilyRule:
    """What one model family accepts. The first rule whose pattern matches wins."""

    family: str
    pattern: str
    reasoning: bool = False
    drop: frozenset[str] = frozenset()  # always left out
    only_one: frozenset[str] = frozenset()  # left out unless equal to 1
    efforts: tuple[str, ...] = ()  # accepted reasoning_effort values; () = none
    sampling_with_effort_none: bool = False  # gpt-5.1+: temperature/top_p/logprobs allowed at effort "none"

    def matches(self, model: str) -> bool:
        return re.match(self.pattern, model) is not None


RULES: tuple[FamilyRule, ...] = (
    # gpt-5-chat* is a plain chat model, not a reasoning one.
    FamilyRule("gpt-5-chat", r"^gpt-5(\.\d+)?-chat"),
    FamilyRule("o1", r"^o1(-|$)", True, _PENALTIES, _SAMPLING, ("low", "medium", "high")),
    FamilyRule("o3-mini", r"^o3-mini(-|$)", True, _PENALTIES, _SAMPLING, ("low", "medium", "high")),
    FamilyRule("o-series", r"^o[3-9](-|$)", True, _PENALTIES | {"stop"}, _SAMPLING, ("low", "medium", "high")),
    FamilyRule(
        "gpt-5",
        r"^gpt-5(-|$)",
        True,
        _PENALTIES | {"stop"},
        _SAMPLING,
        ("minimal", "low", "medium", "high"),
    ),
    FamilyRule(
        "gpt-5.1+",
        r"^gpt-(5\.\d+|[6-9](\.\d+)?)(-|$)",
        True,
        _PENALTIES | {"stop"},
        _SAMPLING,
        ("none", "low", "medium", "high", "xhigh"),
        sampling_with_effort_none=True,
    ),
)
PLAIN = FamilyRule("chat", r"")


def rule_for(model: str) -> FamilyRule:
    name = base_model(model)
    for rule in RULES:
        if rule.matches(name):
            return rule
    return PLAIN


@dataclass(frozen=True)
class BuiltRequest:
    body: dict[str, Any]
    notes: tuple[str, ...]  # what was dropped or renamed, and why


def build_body(profile: Profile, messages: list[dict[str, Any]], *, stream: bool) -> BuiltRequest:
    """The exact JSON body to send: only keys that are set, adapted to the model family."""
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
    }
    effort = profile.reasoning_effort
    relaxed = rule.sampling_with_effort_none and effort == "none"
    for key, value in wanted.items():
        if value is None:
            continue
        if key == "reasoning_effort":
            if not rule.reasoning:
                notes.append(f"reasoning_effort dropped: {profile.model} is not a reasoning model")
                continue
            if value not in rule.efforts:
                notes.append(
                    f"reasoning_effort={value!r} dropped: {rule.family} models take {', '.join(rule.efforts)}"
                )
                continue
        elif key in rule.drop:
            notes.append(f"{key} dropped: not supported by {rule.family} models")
            continue
        elif key in rule.only_one and value != 1 and not relaxed:
            notes.append(f"{key}={value} dropped: {rule.family} models accept only the default (1)")
            continue
        body[key] = value
    if profile.max_tokens is not None:
        param = profile.token_limit_param
        if param is None:
            param = "max_completion_tokens" if rule.reasoning or is_openai(profile.base_url) else "max_tokens"
        if param != "max_tokens" and rule.reasoning and profile.token_limit_param is None:
            notes.append(f"max_tokens sent as max_completion_tokens for {rule.family} models")
        body[param] = profile.max_tokens
    if stream:
        body["stream"] = True
        if profile.include_usage:
            body["stream_options"] = {"include_usage": True}
    for key, value in profile.params.items():
        body[key] = value
    return BuiltRequest(body, tuple(notes))


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
    if key:
        return key.strip()
    if not is_openai(profile.base_url):
        return PLACEHOLDER_KEY
    raise AuthError(
        f"no API key: set {profile.api_key_env} (export {profile.api_key_env}=sk-...)",
        hint="or use a local server with: gptcli ask -p local",
    )


def _key_from_command(cmd: tuple[str, ...]) -> str:
    shown = cmd[0]
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise ConfigError(f"api_key_cmd: command not found: {shown}") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"api_key_cmd: {shown} did not finish in 30 s") from None
    if done.returncode != 0:
        raise AuthError(f"api_key_cmd: {shown} exited with {done.returncode}")
    key = done.stdout.strip()
    if not key:
        raise AuthError(f"api_key_cmd: {shown} printed no key")
    return key


# --- sending ---------------------------------------------------------------------------

SECOND_CHANCE_CODES = ("unsupported_parameter", "unsupported_value")


def send(
    profile: Profile,
    body: dict[str, Any],
    *,
    key: str,
    notice: Callable[[str], None],
) -> Generator[Delta, None, Completion]:
    """Send ``body``; yield text deltas; return the finished Completion.

    A 400 naming a parameter the body set (``unsupported_parameter`` or
    ``unsupported_value``) drops that parameter and retries once: rejected requests
    are not billed, and unknown future models then still work.
    """
    from . import openai_backend

    try:
        return (yield from openai_backend.chat(profile, body, key=key))
    except APIError as e:
        param = _named_param(e, body)
        if param is None:
            raise
        notice(f"the server rejected {param!r} ({e.code}); retrying once without it")
        body.pop(param)
        if param == "stream":
            body.pop("stream_options", None)
        return (yield from openai_backend.chat(profile, body, key=key))


def _named_param(error: APIError, body: dict[str, Any]) -> str | None:
    if error.status != 400 or error.code not in SECOND_CHANCE_CODES or not error.param:
        return None
    param = error.param.split(".", 1)[0].split("[", 1)[0]
    if param in ("model", "messages") or param not in body:
        return None
    return param
