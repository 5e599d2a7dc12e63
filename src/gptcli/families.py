"""The parameter rules per model family: one table, ``RULES`` (documented in docs/model-families.md).

``rule_for`` / ``rule_for_profile`` pick a family's row (the profile's ``family`` key, its
``reasoning`` switch, else the model name); ``token_limit_param`` says which name the
output limit travels under; ``rules_markdown`` is the docs table. ``client.build_body``
applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from .models import OPENAI_BASE_URL, Profile
from .prices import base_model

OPENAI_HOST = urlparse(OPENAI_BASE_URL).hostname


def is_openai(base_url: str | None) -> bool:
    return base_url is None or urlparse(base_url).hostname == OPENAI_HOST


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


# What ``reasoning = true`` in a profile means for a model name the table does not know:
# an OpenAI-style reasoning model (sampling only at its default, no penalties or logprobs).
REASONING = FamilyRule(
    "reasoning",
    r"$^",
    "any name, with reasoning = true in the profile",
    True,
    _PENALTIES | _LOGPROBS | {"verbosity"},
    _SAMPLING,
    _O_EFFORTS,
)


def family_names() -> list[str]:
    """The names a profile's ``family`` key accepts."""
    return [rule.family for rule in (*RULES, REASONING, PLAIN)]


def rule_for(model: str) -> FamilyRule:
    name = base_model(model)
    for rule in RULES:
        if rule.matches(name):
            return rule
    return PLAIN


def rule_for_profile(profile: Profile) -> FamilyRule:
    """The profile's ``family`` row, else its ``reasoning`` switch, else the model name's row."""
    if profile.family is not None:
        return next(r for r in (*RULES, REASONING, PLAIN) if r.family == profile.family)
    if profile.reasoning is True:
        found = rule_for(profile.model)
        return found if found.reasoning else REASONING
    if profile.reasoning is False:
        return PLAIN
    return rule_for(profile.model)


def token_limit_param(profile: Profile, rule: FamilyRule | None = None) -> str:
    """Which name the output limit travels under.

    The profile's ``token_limit_param`` wins. Otherwise OpenAI's own host (and Azure
    OpenAI's) gets ``max_completion_tokens`` (its reasoning models reject ``max_tokens``, and
    ``max_tokens`` is deprecated there for every model), and every other server gets
    ``max_tokens``, whatever the model: it is the name vLLM, llama.cpp's server, Ollama,
    LiteLLM and OpenRouter all honour (Ollama and older llama.cpp and vLLM builds silently
    ignore ``max_completion_tokens``, so ``--max-tokens`` would not bound the reply), and
    LiteLLM renames it for o-series upstreams itself. A server that refuses it (Azure's
    o-series) answers 400 and the second chance renames it, so the limit still holds.
    """
    if profile.token_limit_param is not None:
        return profile.token_limit_param
    return "max_completion_tokens" if _openai_run(profile.base_url) else "max_tokens"


# Azure OpenAI runs OpenAI's models with OpenAI's rules (its o-series refuse max_tokens).
_AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")


def _openai_run(base_url: str | None) -> bool:
    host = urlparse(base_url).hostname or "" if base_url else ""
    return is_openai(base_url) or host.endswith(_AZURE_HOSTS)


def rules_markdown() -> str:
    """The rules table as Markdown: docs/model-families.md embeds it (a test keeps them equal)."""

    def cell(keys: frozenset[str]) -> str:
        return ", ".join(f"`{k}`" for k in sorted(keys)) or "-"

    head = (
        "| family | examples | reasoning model | left out unless 1 | always left out | reasoning_effort |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = []
    for rule in (*RULES, REASONING, PLAIN):
        if rule.efforts is None:
            efforts = "sent as given"
        elif not rule.efforts:
            efforts = "left out"
        else:
            efforts = ", ".join(f"`{e}`" for e in rule.efforts)
        if rule.at_effort_none:
            efforts += f" (at `none`, {cell(rule.at_effort_none)} are kept)"
        rows.append(
            f"| {rule.family} | {rule.examples} | {'yes' if rule.reasoning else 'no'} | {cell(rule.only_one)} "
            f"| {cell(rule.drop)} | {efforts} |"
        )
    limit = (
        "\nToken limit, every family: `max_completion_tokens` on OpenAI's and Azure OpenAI's hosts,"
        " `max_tokens` on every other server (vLLM, llama.cpp, Ollama, LiteLLM, OpenRouter all honour it);"
        " the profile's `token_limit_param` overrides.\n"
    )
    return head + "\n".join(rows) + "\n" + limit
