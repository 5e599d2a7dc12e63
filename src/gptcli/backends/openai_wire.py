"""OpenAI's JSON wire format, without the SDK: replies, error bodies, Batch API files.

Pure functions over parsed JSON (and the ``Retry-After`` headers), so they can be
tested, and used by ``backends.openai``, without importing ``openai``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import (
    APIError,
    AuthError,
    ContextLengthError,
    GptcliError,
    IncompleteReply,
    NetworkError,
    NotFoundError,
    RateLimitError,
)
from ..models import BatchResult, Completion, Profile, Usage
from .classify import Classified, classify
from .tool_deltas import message_calls


def describe_exception(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    name = type(e).__name__
    return f"{name}: {text}" if text else name


# Keyword arguments the SDK's create() knows; everything else travels in extra_body.
_KNOWN = frozenset(
    [
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
    ]
)


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    known = {k: v for k, v in params.items() if k in _KNOWN}
    extra = {k: v for k, v in params.items() if k not in _KNOWN}
    return known, extra


def scrub(text: str, key: str) -> str:
    if key and len(key) >= 8 and key in text:
        text = text.replace(key, "[redacted]")
    return text


def extra_forbidden(body: object) -> str | None:
    """The top-level field a pydantic 422 ("extra_forbidden") names, if any.

    Shapes seen: ``{"detail": [...]}`` (FastAPI) and Mistral's
    ``{"object": "error", "message": {"detail": [...]}}``, the message sometimes a JSON string.
    """
    inner: Any = body.get("error", body) if isinstance(body, dict) else None
    for _ in range(3):
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except ValueError:
                return None
        if isinstance(inner, dict) and "detail" not in inner and "message" in inner:
            inner = inner["message"]
            continue
        break
    details = inner.get("detail") if isinstance(inner, dict) else None
    if not isinstance(details, list):
        return None
    for d in details:
        if not isinstance(d, dict):
            continue
        loc = d.get("loc")
        if d.get("type") == "extra_forbidden" and isinstance(loc, list) and len(loc) >= 2 and loc[0] == "body":
            return str(loc[1])
    return None


def error_fields(body: object) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}


PLACEHOLDER_KEY = "sk-no-key-required"  # client.PLACEHOLDER_KEY: sent when no key was set


def error_for(status: int, body: Any, raw: str, key: str, profile: Profile) -> GptcliError:
    """A server's error answer as a gptcli error, by what it means (``classify.ERROR_RULES``).

    The message is one line (the server's first meaningful line, about 200 characters at
    most); ``detail`` keeps the server's whole text for -v and the log. The key is scrubbed
    from both.
    """
    c = classify(status, body, raw)
    line = scrub(c.line, key)
    error = _error_of_kind(c, status, line, key, profile)
    error.detail = scrub(c.message, key) or None
    return error


def _error_of_kind(c: Classified, status: int, line: str, key: str, profile: Profile) -> GptcliError:
    kind = c.kind
    model = profile.model
    if kind == "context":
        if c.numbers:
            prompt, window = c.numbers
            text = f"the request is too long for {model}: {prompt:,} prompt tokens > context window {window:,}"
            return ContextLengthError(f"{text} (the server said, HTTP {status})", hint="shorten the input")
        return ContextLengthError(f"the request is too long for {model} (HTTP {status}): {line}")
    if kind == "auth":
        return AuthError(f"the server refused the API key (HTTP {status}): {line}", hint=_key_hint(key, profile))
    if kind in ("rate_limit", "quota"):
        what = "out of quota or credit" if kind == "quota" else "rate limited"
        return RateLimitError(f"{what} (HTTP {status}){' after retries' if c.rule.retry else ''}: {line}")
    if kind == "timeout":
        return NetworkError(f"the server timed out (HTTP {status}) after retries: {line}", hint="raise 'timeout'")
    if kind == "unknown_model":
        return NotFoundError(
            f"unknown model {model!r} (HTTP {status}): {line}",
            hint=f"list the server's models with: gptcli models -p {profile.name}",
        )
    if kind == "not_found":
        return NotFoundError(
            f"not found (HTTP 404): {line}",
            hint=f"check base_url ({profile.server_url}); list models with: gptcli models -p {profile.name}",
        )
    if kind == "server":
        return NetworkError(f"server error (HTTP {status}) after retries: {line}")
    if kind == "content_filter":
        return APIError(f"the server's content filter refused the request (HTTP {status}): {line}", status=status)
    if kind == "validation":
        return APIError(f"the server rejected the request as invalid (HTTP {status}): {line}", status=status)
    code = c.code
    if kind == "unsupported_parameter" and code not in ("unsupported_parameter", "unsupported_value"):
        code = "unsupported_parameter"  # said in words only (LiteLLM's code is "400"): the second chance reads them
    return APIError(f"HTTP {status}: {line}", status=status, code=code, param=c.param)


def _key_hint(key: str, profile: Profile) -> str:
    if key == PLACEHOLDER_KEY:
        return f"no API key was set: profile {profile.name!r} reads ${profile.api_key_env} (or set api_key_cmd)"
    if profile.api_key_cmd:
        return f"the key came from api_key_cmd {profile.api_key_cmd[0]}"
    return f"the key came from ${profile.api_key_env}"


def incomplete_choices(completion: Completion, asked: int, *, stream: bool = False) -> str | None:
    """Why a reply the server sent whole is not finished, or None when it is.

    Every choice that arrived needs a finish_reason; a reply with no choice, or with no
    content and no finish at all, is not an answer (an over-long prompt answered with an
    empty stream). Choices that never arrived are not judged here (the caller warns).

    One exception, for streams: when some choice finished and every other one sent text,
    the stream is whole. LiteLLM's proxy relays one finish_reason per stream, on choice 0
    only (its stream wrapper keeps a single ``received_finish_reason``; recorded in
    tests/fixtures/servers/litellm/ask-n2-stream.json), so with ``-n 2`` the second choice
    never gets one. A stream cut short sends no finish_reason at all.
    """
    chars = sum(len(t) for t in completion.texts)
    if not completion.texts or (chars == 0 and not any(completion.finish_reasons)):
        return f"the server ended the reply without finishing it; {chars} characters received"
    reasons, texts = completion.finish_reasons, completion.texts
    if stream and any(reasons) and all(r or t for r, t in zip(reasons, texts, strict=False)):
        return None
    if not all(completion.finish_reasons):
        missing = [str(i + 1) for i, r in enumerate(completion.finish_reasons) if not r]
        which = f" (choice {', '.join(missing)} of {max(asked, len(completion.texts))})" if asked > 1 else ""
        return f"the server ended the reply without finishing it{which}; {chars} characters received"
    return None


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms``, or ``retry-after`` (seconds or an HTTP date)."""
    import email.utils

    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if seconds == seconds and seconds >= 0:  # not NaN
            return seconds
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def reasoning_field(message: Any) -> str:
    """The thinking a message or delta carries in a field of its own ("" when none).

    ``reasoning_content``: DeepSeek's API, vLLM, llama.cpp; ``reasoning``: OpenRouter,
    Ollama. Works on parsed JSON (dicts) and on the SDK's objects (extra fields allowed).
    """
    if message is None:
        return ""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name) if isinstance(message, dict) else getattr(message, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def completion_from_dict(data: Any, model: str, latency: float) -> Completion:
    """A ``chat.completion`` object, as parsed JSON, as a Completion."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        raise NetworkError("the server's reply is not a chat completion")
    ordered = sorted((c for c in choices if isinstance(c, dict)), key=lambda c: c.get("index") or 0)
    texts: list[str] = []
    thoughts: list[str] = []
    reasons: list[str | None] = []
    for c in ordered:
        message = c.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts, from some servers
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        texts.append(content if isinstance(content, str) else "")
        thoughts.append(reasoning_field(message))
        reason = c.get("finish_reason")
        reasons.append(reason if isinstance(reason, str) else None)
    completion = Completion(
        tuple(texts),
        tuple(reasons),
        str(data.get("model") or model),
        _usage_from_dict(data.get("usage")),
        latency,
        reasonings=tuple(thoughts) if any(thoughts) else (),
        tool_calls=message_calls(ordered[0].get("message")) if ordered else (),
    )
    why = incomplete_choices(completion, len(texts))
    if why:
        raise IncompleteReply(why, replace(completion, incomplete=True))
    return completion


def _usage_from_dict(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None

    def num(d: Any, key: str) -> int:
        v = d.get(key) if isinstance(d, dict) else None
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    return Usage(
        prompt_tokens=num(u, "prompt_tokens"),
        completion_tokens=num(u, "completion_tokens"),
        total_tokens=num(u, "total_tokens"),
        cached_tokens=num(u.get("prompt_tokens_details"), "cached_tokens"),
        reasoning_tokens=num(u.get("completion_tokens_details"), "reasoning_tokens"),
    )


def custom_ids(path: Path) -> Iterator[str]:
    """The custom_id of every line of a request file."""
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    cid = json.loads(line).get("custom_id")
                except (ValueError, AttributeError):
                    continue
                if isinstance(cid, str):
                    yield cid


def batch_results(path: Path) -> Iterator[BatchResult]:
    """The lines of a downloaded output or error file."""
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            cid = obj.get("custom_id")
            cid = cid if isinstance(cid, str) else None
            response = obj.get("response")
            if not isinstance(response, dict):
                response = {}
            status = response.get("status_code")
            body = response.get("body")
            if isinstance(status, int) and status < 400 and isinstance(body, dict):
                try:
                    yield BatchResult(cid, completion_from_dict(body, "", 0.0), status)
                    continue
                except NetworkError as e:
                    yield BatchResult(cid, None, status, None, e.message)
                    continue
            err = obj.get("error")
            if not isinstance(err, dict):
                err = error_fields(body)
            message = err.get("message") or (f"HTTP {status}" if status else "no result")
            code = err.get("code")
            yield BatchResult(
                cid,
                None,
                status if isinstance(status, int) else None,
                code if isinstance(code, str) else None,
                scrub(str(message), "").splitlines()[0] if message else None,
            )
