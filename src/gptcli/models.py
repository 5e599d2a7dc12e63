"""Frozen value types shared by every layer: profiles, prices, usage, replies, events.

Each type that is written to disk or printed as JSON has ``to_dict``/``from_dict`` so
the JSONL log, ``--json`` output and the docs name every field the same way.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict, overload

from .errors import GptcliError

# OpenAI's API: the server when a profile sets no base_url (written here once).
OPENAI_BASE_URL = "https://api.openai.com/v1"

# Header names whose values are credentials: never logged or printed.
_SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)

# The userinfo of a URL (``http://alice:secret@host``): a proxy's or server's password.
_USERINFO = re.compile(r"(\b[a-zA-Z][\w+.-]*://)([^/?#@\s:]*)(:[^/?#\s]*)?@(?=[^/?#\s@]*(?:[/?#\s]|$))")


@overload
def redact_url(text: str) -> str: ...
@overload
def redact_url(text: None) -> None: ...


def redact_url(text: str | None) -> str | None:
    """``text`` with every URL's password shown as ``***`` (``http://alice:***@host/v1``).

    A user name alone (``http://token@host``) may itself be the secret: it becomes ``***``.
    Applied wherever a base URL is shown or stored (issue 17 #2); the request itself
    is still sent with the real URL.
    """
    if text is None or "@" not in text:
        return text

    def hide(m: re.Match[str]) -> str:
        scheme, user, password = m.group(1), m.group(2), m.group(3)
        return f"{scheme}{user}:***@" if password is not None else f"{scheme}***@"

    return _USERINFO.sub(hide, text)


def _redact_server(table: dict[str, Any]) -> dict[str, Any]:
    """An ``[mcp.servers.NAME]`` table as it may be shown or logged: the values of env, headers
    and their ``*_cmd`` commands are ``[redacted]`` (their names stay), a URL's password ``***``."""
    out = dict(table)
    for key in ("env", "headers", "env_cmd", "headers_cmd"):
        if key in out:
            out[key] = dict.fromkeys(out[key], "[redacted]")
    if "url" in out:
        out["url"] = redact_url(out["url"])
    return out


# Keys of a profile that are request parameters (sent to the API when set).
SAMPLING_KEYS = (
    "temperature",
    "top_p",
    "max_tokens",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
)


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; ``None`` where unknown."""

    input: float | None = None
    cached_input: float | None = None
    output: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """Resolved settings for one run: defaults < extends < profile < env < flags."""

    name: str = "default"
    model: str = "gpt-4o-mini"
    description: str | None = None
    backend: str = "openai"  # which backends/ module speaks to the server
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api_key_cmd: tuple[str, ...] | None = None
    system: str | None = None
    prompt: str | None = None  # a template for the user message: {input}, {name} (gptcli.template)
    vars: dict[str, str] = field(default_factory=dict)  # the prompt's default {name} values
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    reasoning_effort: str | None = None
    # Reasoning models (README "Reasoning models"): <think> tags read from the content
    # unless parse_reasoning_tags is off; show_reasoning streams the thinking to stderr.
    parse_reasoning_tags: bool = True
    reasoning_tags: tuple[str, ...] = ("<think>", "</think>")
    show_reasoning: bool = False
    timeout: float = 600.0
    connect_timeout: float = 10.0  # capped by ``timeout``
    deadline: float | None = None  # the whole request, retries included (None: by model, client.with_deadline)
    max_retries: int = 2
    price: Price | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None  # the model's output limit (models.dev's when unset)
    budget: str | None = None  # a shared spending cap, "5/day" (see gptcli.ledger)
    encoding: str | None = None
    include_usage: bool = True
    token_limit_param: str | None = None
    # For aliases and gateways whose model name says nothing (``reasoner`` served as o3-mini):
    # which row of client.RULES applies. ``family`` names a row; ``reasoning = true`` picks
    # the generic reasoning row, ``false`` the plain one. Unset: found from the model name.
    reasoning: bool | None = None
    family: str | None = None
    # What the model takes as input (text, image, pdf, audio); unset: models.dev's answer
    # (gptcli.attachments.capable). For local and aliased models the data does not know.
    modalities: tuple[str, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Tools (issue 20, gptcli.tools.config): {"servers": {NAME: {command|url, ...}}} and [tools].
    mcp: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, Any] = field(default_factory=dict)
    # key -> where its value came from ("flag", "env GPTCLI_MODEL", "profiles/coder.toml:3", "default")
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def server_url(self) -> str:
        """The server's base URL: ``base_url``, or OpenAI's when unset."""
        return self.base_url or OPENAI_BASE_URL

    @property
    def shown_url(self) -> str:
        """``server_url`` as it may be shown or stored: any password redacted."""
        return redact_url(self.server_url)

    def settings(self) -> dict[str, Any]:
        """The resolved settings as plain data, without secrets or provenance.

        ``api_key_cmd`` is left out: a command line may carry a secret; a password in
        ``base_url`` is ``[redacted]``.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("sources", "api_key_cmd"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Price):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif f.name == "base_url" and value:
                value = redact_url(value)
            elif f.name == "headers":
                value = {k: ("[redacted]" if _SECRET_HEADER.search(k) else v) for k, v in value.items()}
            elif f.name == "base_url":
                value = redact_url(value)  # a password in the URL is a secret too
            elif f.name == "mcp" and value:
                value = {"servers": {n: _redact_server(t) for n, t in value.get("servers", {}).items()}}
            out[f.name] = value
        return out


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    # True: the server reported no reasoning_tokens; the count is of the reasoning text.
    reasoning_estimated: bool = False

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    """One finished (or cut short) reply from the server."""

    texts: tuple[str, ...]
    finish_reasons: tuple[str | None, ...]
    model: str
    usage: Usage | None = None
    latency: float = 0.0
    incomplete: bool = False  # the stream broke or was interrupted
    interrupted: bool = False  # Ctrl-C / SIGTERM
    # Each choice's thinking, apart from its text (() when none; see reasoning.py).
    reasonings: tuple[str, ...] = ()
    in_reasoning: bool = False  # cut off while still thinking: no answer began
    # The first choice's tool calls, as the wire carries them back to the server:
    # ``{"id", "type": "function", "function": {"name", "arguments"}}`` (issue 20).
    tool_calls: tuple[dict[str, Any], ...] = ()

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def reasoning(self) -> str | None:
        """The first choice's thinking, None when there was none."""
        return (self.reasonings[0] or None) if self.reasonings else None

    @property
    def finish_reason(self) -> str | None:
        return self.finish_reasons[0] if self.finish_reasons else None


# What a backend answers besides a Completion (see backend.py).


@dataclass(frozen=True)
class Outcome:
    """One attempt at one request: a Completion, or an error and whether retrying may help."""

    completion: Completion | None = None
    error: GptcliError | None = None
    status: int | None = None  # the HTTP status of an error reply
    code: str | None = None  # the error body's code (rate_limit_exceeded, insufficient_quota...)
    retryable: bool = False
    retry_after: float | None = None  # seconds the server asked for (Retry-After, retry-after-ms)


@dataclass(frozen=True)
class BatchResult:
    """One line of a Batch API output or error file."""

    custom_id: str | None
    completion: Completion | None
    status: int | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RequestDescription:
    """The request a body becomes, as ``--dry-run`` shows it; credentials redacted."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": dict(self.headers), "body": self.body}


class ServerModel(TypedDict):
    """One entry of a server's model list."""

    id: str
    owned_by: str | None
    created: int | None


# Events a use case yields while it runs; render turns them into output.


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text for choice ``index``: answer ``text`` and/or ``reasoning``."""

    text: str
    index: int = 0
    reasoning: str = ""


@dataclass(frozen=True)
class Notice:
    """Something the user should know (a dropped parameter, a trimmed history)."""

    text: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class Preflight:
    """What a request will cost before it is sent."""

    model: str
    prompt_tokens: int
    exact: bool  # False: an upper bound or an approximation
    encoding: str | None
    cost_min: float | None
    cost_max: float | None
    context_window: int | None
    max_output: int | None
    n: int = 1
    capped: bool = False  # max_output is the --max-cost cap, sent as the request's output limit
    notes: tuple[str, ...] = ()  # how the estimate was made ("price assumed: OpenAI gpt-4o", the cap)


@dataclass(frozen=True)
class Turn:
    """The outcome of one request in a conversation."""

    conversation_id: str | None
    completion: Completion
    cost: float | None
    preflight: Preflight | None
    request: dict[str, Any]
    notices: tuple[str, ...] = ()
    cost_estimated: bool = False  # the server sent no usage: priced from counted tokens
    # A tool loop (issue 20): every call made on the way (``CallRecord.to_dict``), and how
    # many requests it took; the completion is the final answer, its usage the loop's sum.
    tool_calls: tuple[dict[str, Any], ...] | None = None
    steps: int = 1


def usd(x: float | None) -> str:
    """Dollars with enough decimals to show the first two significant digits of small amounts."""
    if x is None:
        return "price unknown"
    if x == 0:
        return "$0"
    if x >= 0.01:
        return f"${x:,.4f}".rstrip("0").rstrip(".")
    import math

    digits = min(12, 1 - math.floor(math.log10(x)) + 1)
    return f"${x:.{digits}f}".rstrip("0").rstrip(".")
