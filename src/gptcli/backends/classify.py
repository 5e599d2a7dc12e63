"""What a server's error answer means, whoever wrote the server: one table, ``ERROR_RULES``.

OpenAI says what went wrong in ``error.code``; LiteLLM, llama.cpp's server, vLLM, Ollama
and OpenRouter often say it only in words (``ContextWindowExceededError`` in a 400 with
no code, ``Invalid model name passed in model=...``, a 500 whose body is a pydantic
dump). Each rule matches an HTTP status, an OpenAI-style ``code``/``type`` or a
well-known phrasing, and names the kind of failure; the first rule that matches wins.
``backends.openai`` turns the kind into the error tree (errors.py), and decides retries
from the rule. docs/errors.md embeds ``errors_markdown()`` (a test keeps them equal);
tests/fixtures/errors/ holds the recorded bodies each rule was written from.

Pure functions over parsed JSON: no SDK, so tests and the batch runner use them freely.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..printable import clean


@dataclass(frozen=True)
class ErrorRule:
    kind: str  # context, auth, rate_limit, timeout, unknown_model, unsupported_parameter, ...
    exit_code: int  # as errors.ExitCode (kept as a number here: the docs table shows it)
    retry: bool  # worth another attempt (the SDK's retries, batch's retries)
    statuses: tuple[int, ...] = ()  # () = any status; (500,) also matches 501-599 when wide_5xx
    codes: frozenset[str] = frozenset()  # error.code or error.type values
    pattern: str | None = None  # searched in the server's message, case-insensitive
    needs_text: bool = False  # the status alone is not enough: a code or the pattern must match too
    seen_in: str = ""  # whose phrasing (docs table)

    def matches(self, status: int, codes: set[str], text: str) -> bool:
        listed = bool(self.statuses) and (status in self.statuses or (500 in self.statuses and status > 500))
        hit = bool(self.codes & codes) or (
            self.pattern is not None and re.search(self.pattern, text, re.IGNORECASE) is not None
        )
        if self.needs_text:
            return listed and hit
        if not self.codes and self.pattern is None:
            return listed or not self.statuses
        return listed or hit


ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(
        "content_filter",
        1,
        False,
        (),
        frozenset({"content_filter", "content_policy_violation", "moderation_blocked"}),
        r"content (management )?polic|ContentPolicyViolation|input was flagged|flagged by|safety system",
        seen_in="OpenAI, Azure, LiteLLM, OpenRouter (403 'flagged')",
    ),
    ErrorRule(
        "context",
        8,
        False,
        (),
        frozenset({"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"}),
        r"context[_ ]?(length|window|size)|ContextWindowExceeded|maximum context|prompt is too long"
        r"|too many (input )?tokens|input (is too long|length exceeds)",
        seen_in="OpenAI, vLLM, LiteLLM (ContextWindowExceededError), llama.cpp (exceed_context_size_error), OpenRouter",
    ),
    ErrorRule(
        "auth",
        4,
        False,
        (401, 403),
        frozenset({"invalid_api_key", "authentication_error", "auth_error", "permission_denied", "no_db_connection"}),
        None,
        seen_in="all (401/403; llama.cpp 'Invalid API Key', vLLM 'Unauthorized', LiteLLM auth_error; LiteLLM"
        " without a database answers any key but its master key with 400 no_db_connection 'No connected db.')",
    ),
    ErrorRule(
        "quota",
        5,
        False,
        (402,),
        frozenset({"insufficient_quota", "billing_hard_limit_reached"}),
        r"insufficient (credits|quota|balance)|exceeded your current quota",
        seen_in="OpenAI (429 insufficient_quota), OpenRouter (402 Insufficient credits)",
    ),
    ErrorRule(
        "rate_limit",
        5,
        True,
        (429,),
        frozenset({"rate_limit_exceeded", "RateLimitError", "rate_limit_error"}),
        r"RateLimitError|rate[ _-]?limit",
        seen_in="OpenAI, LiteLLM (RateLimitError), OpenRouter (429)",
    ),
    ErrorRule(
        "unknown_model",
        3,
        False,
        (400, 404, 422),
        frozenset({"model_not_found", "invalid_model"}),
        r"invalid model name|model\W{1,3}[\w.:/@-]+\W{1,3}(does not exist|not found)"
        r"|does not exist or you do not have access|no such model|unknown model|model_not_found|not a valid model",
        needs_text=True,
        seen_in="OpenAI/vLLM (404 'does not exist'), LiteLLM (400 'Invalid model name'),"
        " Ollama (404 'not found, try pulling')",
    ),
    ErrorRule(
        "unsupported_parameter",
        1,
        False,
        (400, 422),
        frozenset({"unsupported_parameter", "unsupported_value", "UnsupportedParamsError"}),
        r"unsupported param|UnsupportedParamsError|not supported|(don't|doesn't|do not|does not) support"
        r"|not permitted|extra_forbidden|unrecognized (request )?argument|unknown (parameter|field)",
        needs_text=True,
        seen_in="OpenAI (unsupported_parameter/value), LiteLLM ('O-series models don't support"
        " temperature=0.3'), pydantic servers",
    ),
    ErrorRule(
        "validation",
        1,
        False,
        (400, 422, 500),
        frozenset({"validation_error"}),
        r"validation error|Field required|\[type=\w+, input_value=|pydantic",
        needs_text=True,
        seen_in="FastAPI/pydantic servers (422), LiteLLM (a 500 carrying a pydantic dump)",
    ),
    ErrorRule("not_found", 3, False, (404,), seen_in="a wrong base_url or path (404 without a model named)"),
    ErrorRule("server", 6, True, (500,), seen_in="any 5xx not matched above (retried)"),
    ErrorRule(
        "timeout",
        6,
        True,
        (408,),
        frozenset({"timeout", "request_timeout"}),
        r"\btimeout\b|timed out",
        seen_in="LiteLLM (408 litellm.Timeout), OpenAI (408)",
    ),
    ErrorRule("other", 1, False, (), seen_in="any other answer (4xx): not retried"),
)


@dataclass(frozen=True)
class Classified:
    rule: ErrorRule
    message: str  # the server's text, whole (control characters removed; for -v and the log)
    line: str  # its first meaningful line, at most ~200 characters
    code: str | None
    param: str | None
    numbers: tuple[int, int] | None  # (prompt tokens, context window) when the server gave them

    @property
    def kind(self) -> str:
        return self.rule.kind


def classify(status: int, body: Any, raw: str = "") -> Classified:
    """The rule a server's error answer matches, with its message cut to one line."""
    fields = _error_dict(body)
    message = clean(server_message(body, raw), keep_newlines=True)
    codes = {str(fields.get(k)) for k in ("code", "type") if fields.get(k) not in (None, "", "None")}
    text = message if message else raw
    for rule in ERROR_RULES:
        if rule.matches(status, codes, text):
            break
    code = fields.get("code")
    param = fields.get("param")
    return Classified(
        rule,
        message,
        one_line(message) or f"HTTP {status}",
        code if isinstance(code, str) and code not in ("None", "") else None,
        param if isinstance(param, str) and param not in ("None", "") else None,
        context_numbers(fields, message) if rule.kind == "context" else None,
    )


def _error_dict(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
        return body
    return {}


def server_message(body: Any, raw: str = "") -> str:
    """The server's own words, from any of the shapes seen.

    ``{"error": {"message": ...}}`` (OpenAI, LiteLLM, llama.cpp, newer vLLM, Ollama's /v1),
    ``{"object": "error", "message": ...}`` (older vLLM), ``{"error": "..."}`` (Ollama's
    native API, vLLM's auth check), ``{"detail": ...}`` (FastAPI), or a plain-text body.
    """
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, str) and inner.strip():
            return inner
        if isinstance(inner, dict):
            for key in ("message", "detail", "msg", "error"):
                value = inner.get(key)
                if isinstance(value, str) and value.strip():
                    return value
                if isinstance(value, (list, dict)) and value:
                    return json.dumps(value, ensure_ascii=False)
    if isinstance(body, str) and body.strip():
        return body
    return raw.strip()


_NESTED = re.compile(r"""['"](?:message|error)['"]:\s*(?:"((?:[^"\\]|\\.)+)"|'((?:[^'\\]|\\.)+)')""")
_TRACE_LINE = re.compile(r"^\s*(Traceback \(most recent call last\)|File \"|at [\w.$<>]+\(|\^+\s*$)")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}\.(?:py|js|ts|go|rs|cpp|c|h)\b(?::\d+)?")
LINE_LIMIT = 200


def one_line(message: str, limit: int = LINE_LIMIT) -> str:
    """The first meaningful line: a proxy's wrapped upstream message unwrapped, no traceback,
    no source file paths, cut at about ``limit`` characters."""
    text = message
    nested = _NESTED.findall(text)
    if nested:  # LiteLLM quotes the upstream body as a Python dict: its innermost message says it
        inner = next((a or b for a, b in reversed(nested) if (a or b).strip()), "")
        if inner:
            text = inner.replace("\\'", "'").replace('\\"', '"')
    line = ""
    for candidate in clean(text, keep_newlines=True).split("\n"):
        candidate = candidate.strip()
        if candidate and not _TRACE_LINE.match(candidate):
            if not line:
                line = candidate
                if not line.endswith(":"):
                    break
            else:  # "1 validation error:" says what, the next line says where: keep both
                line = f"{line} {candidate}"
                break
    line = _PATH.sub("[path]", line)
    line = re.sub(r"\s+", " ", line)
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


_NUMBER_PATTERNS = (
    # OpenAI, vLLM, OpenRouter: "maximum context length is 8192 tokens. However, you requested 9000 tokens"
    re.compile(
        r"maximum context length is (?P<window>\d+) tokens.{0,80}?(?:resulted in|requested(?: about)?|has)\s+"
        r"(?P<prompt>\d+)",
        re.IGNORECASE | re.DOTALL,
    ),
    # llama.cpp: "request (4476 tokens) exceeds the available context size (4096 tokens)"
    re.compile(r"\((?P<prompt>\d+) tokens?\)\s*exceeds the available context size\s*\((?P<window>\d+) tokens?\)", re.I),
    # LiteLLM's own check (router pre-call checks): "Max Input Tokens=2000, Got=16054"
    re.compile(r"Max Input Tokens\s*=\s*(?P<window>\d+),\s*Got\s*=\s*(?P<prompt>\d+)", re.IGNORECASE),
    # Anthropic through a proxy: "prompt is too long: 215000 tokens > 200000 maximum"
    re.compile(r"(?P<prompt>\d+) tokens\s*>\s*(?P<window>\d+)", re.IGNORECASE),
)


def context_numbers(fields: dict[str, Any], message: str) -> tuple[int, int] | None:
    """(prompt tokens, context window) from a context-length error, when the server gave them."""
    p, w = fields.get("n_prompt_tokens"), fields.get("n_ctx")
    if isinstance(p, int) and isinstance(w, int):
        return p, w
    for pattern in _NUMBER_PATTERNS:
        m = pattern.search(message)
        if m:
            return int(m["prompt"]), int(m["window"])
    return None


_PARAM_PHRASES = re.compile(
    r"unsupported param|UnsupportedParamsError|not supported|(don't|doesn't|do not|does not) support"
    r"|not permitted|extra_forbidden|unrecognized (request )?argument|unknown (parameter|field)|only the default",
    re.IGNORECASE,
)


def named_parameter(message: str, candidates: list[str]) -> str | None:
    """Which of ``candidates`` (the body's keys) a message about an unsupported parameter names.

    Whatever the phrasing: OpenAI's "Unsupported parameter: 'stop'", LiteLLM's "O-series
    models don't support temperature=0.3" or "does not support parameters: ['top_p']".
    The first one named wins.
    """
    if not _PARAM_PHRASES.search(message):
        return None
    best: tuple[int, str] | None = None
    for key in candidates:
        m = re.search(rf"(?<![\w.-]){re.escape(key)}(?![\w-])", message)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), key)
    return best[1] if best else None


def errors_markdown() -> str:
    """The table as Markdown: docs/errors.md embeds it (a test keeps them equal)."""
    head = (
        "| kind | HTTP status | code / type | message pattern | exit | retried | seen in |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in ERROR_RULES:
        statuses = ", ".join("5xx" if s == 500 and r.kind in ("server",) else str(s) for s in r.statuses) or "any"
        if r.needs_text and r.statuses:
            statuses += " (with a code or pattern)"
        codes = ", ".join(f"`{c}`" for c in sorted(r.codes)) or "-"
        pattern = f"`{r.pattern.replace('|', '&#124;')}`" if r.pattern else "-"
        retried = "yes" if r.retry else "no"
        rows.append(f"| {r.kind} | {statuses} | {codes} | {pattern} | {r.exit_code} | {retried} | {r.seen_in} |")
    return head + "\n".join(rows) + "\n"
