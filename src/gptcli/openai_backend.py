"""The only module that imports ``openai``: a request body in, text deltas and a Completion out.

SDK exceptions become gptcli errors here, with the key scrubbed from every message.
A stream that breaks after some text raises ``StreamBroken`` carrying what arrived.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import openai

from .errors import (
    APIError,
    AuthError,
    ContextLengthError,
    GptcliError,
    NetworkError,
    NotFoundError,
    RateLimitError,
)
from .models import Completion, Delta, Profile, Usage


class StreamBroken(NetworkError):
    """The connection failed mid-reply; ``partial`` holds what was received."""

    def __init__(self, message: str, partial: Completion) -> None:
        super().__init__(message)
        self.partial = partial


def make_client(profile: Profile, key: str, *, async_: bool = False) -> Any:
    import httpx2 as httpx

    timeout = httpx.Timeout(profile.timeout, connect=min(profile.timeout, 10.0))
    cls = openai.AsyncOpenAI if async_ else openai.OpenAI
    return cls(
        api_key=key,
        base_url=profile.base_url,
        timeout=timeout,
        max_retries=profile.max_retries,
        default_headers=profile.headers or None,
    )


def chat(profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
    client = make_client(profile, key)
    start = time.monotonic()
    params = dict(body)
    stream = bool(params.pop("stream", False))
    known, extra = _split(params)
    try:
        if not stream:
            resp = client.chat.completions.create(**known, extra_body=extra or None)
            return _from_response(resp, body["model"], time.monotonic() - start)
        chunks = client.chat.completions.create(**known, stream=True, extra_body=extra or None)
    except openai.APIError as e:
        raise translate(e, key, profile) from None
    return (yield from _consume(chunks, body, start, key, profile))


def _consume(
    chunks: Any, body: dict[str, Any], start: float, key: str, profile: Profile
) -> Generator[Delta, None, Completion]:
    n = int(body.get("n") or 1)
    texts = [[] for _ in range(n)]  # type: list[list[str]]
    reasons: list[str | None] = [None] * n
    usage: Usage | None = None
    model = body["model"]
    try:
        for chunk in chunks:
            if getattr(chunk, "model", None):
                model = chunk.model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or ():
                i = choice.index or 0
                while i >= len(texts):
                    texts.append([])
                    reasons.append(None)
                content = choice.delta.content if choice.delta else None
                if content:
                    texts[i].append(content)
                    yield Delta(content, i)
                if choice.finish_reason:
                    reasons[i] = choice.finish_reason
    except (KeyboardInterrupt, GeneratorExit):
        _close(chunks)
        raise
    except Exception as e:  # the stream broke: keep what arrived
        _close(chunks)
        partial = Completion(
            tuple("".join(t) for t in texts),
            tuple(reasons),
            model,
            usage,
            time.monotonic() - start,
            incomplete=True,
        )
        err = translate(e, key, profile) if isinstance(e, openai.APIError) else None
        message = err.message if err else f"the connection broke mid-reply ({_describe(e)})"
        raise StreamBroken(_scrub(message, key), partial) from None
    done = all(reasons)
    return Completion(
        tuple("".join(t) for t in texts),
        tuple(reasons),
        model,
        usage,
        time.monotonic() - start,
        incomplete=not done,
    )


def _close(chunks: Any) -> None:
    try:
        chunks.close()
    except Exception:
        pass


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    name = type(e).__name__
    return f"{name}: {text}" if text else name


# Keyword arguments the SDK's create() knows; everything else travels in extra_body.
_KNOWN = frozenset(
    """messages model audio frequency_penalty function_call functions logit_bias logprobs
    max_completion_tokens max_tokens metadata modalities n parallel_tool_calls prediction
    presence_penalty reasoning_effort response_format seed service_tier stop store
    stream_options temperature tool_choice tools top_logprobs top_p user verbosity""".split()
)


def _split(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    known = {k: v for k, v in params.items() if k in _KNOWN}
    extra = {k: v for k, v in params.items() if k not in _KNOWN}
    return known, extra


def _usage(u: Any) -> Usage:
    details = getattr(u, "prompt_tokens_details", None)
    cdetails = getattr(u, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=u.prompt_tokens or 0,
        completion_tokens=u.completion_tokens or 0,
        total_tokens=u.total_tokens or 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
        reasoning_tokens=(getattr(cdetails, "reasoning_tokens", 0) or 0) if cdetails else 0,
    )


def _from_response(resp: Any, model: str, latency: float) -> Completion:
    if not hasattr(resp, "choices") or resp.choices is None:
        raise NetworkError("the server's reply is not a chat completion (malformed JSON?)")
    choices = sorted(resp.choices, key=lambda c: c.index or 0)
    return Completion(
        tuple((c.message.content or "") if c.message else "" for c in choices),
        tuple(c.finish_reason for c in choices),
        getattr(resp, "model", None) or model,
        _usage(resp.usage) if getattr(resp, "usage", None) else None,
        latency,
    )


def _scrub(text: str, key: str) -> str:
    if key and len(key) >= 8 and key in text:
        text = text.replace(key, "[redacted]")
    return text


def translate(e: BaseException, key: str, profile: Profile) -> GptcliError:
    """An SDK exception as a gptcli error with a one-line, key-free message."""
    where = profile.base_url or "https://api.openai.com/v1"
    if isinstance(e, openai.APITimeoutError):
        return NetworkError(f"timed out after {profile.timeout:g} s waiting for {where}", hint="raise 'timeout'")
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__ or e
        return NetworkError(f"cannot reach {where}: {_scrub(_describe(cause), key)}")
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        err = _error_fields(e.body)
        message = _scrub(err.get("message") or e.message or f"HTTP {status}", key)
        code = err.get("code")
        param = err.get("param")
        if code is None and status in (400, 422) and (extra := _extra_forbidden(e.body)):
            # pydantic-validated servers (Mistral, FastAPI proxies) refuse an unknown field this way.
            code, param = "unsupported_parameter", extra
            message = f"{extra!r} is not permitted by this server (extra_forbidden)"
        if status in (401, 403):
            return AuthError(f"the server refused the API key (HTTP {status}): {message}")
        if status == 429:
            return RateLimitError(f"rate limited or out of quota (HTTP 429) after retries: {message}")
        if code == "context_length_exceeded":
            return ContextLengthError(f"the request is too long for {profile.model}: {message}")
        if status == 404:
            return NotFoundError(f"not found (HTTP 404): {message}", hint="list the server's models with: gptcli models")
        if status >= 500:
            return NetworkError(f"server error (HTTP {status}) after retries: {message}")
        return APIError(f"HTTP {status}: {message}", status=status, code=code, param=param)
    if isinstance(e, openai.APIResponseValidationError):
        return NetworkError("the server's reply could not be read (malformed JSON)")
    if isinstance(e, openai.APIError):
        return NetworkError(f"bad reply from the server: {_scrub(e.message, key)}")
    return NetworkError(_scrub(_describe(e), key))


def _extra_forbidden(body: object) -> str | None:
    """The top-level field a pydantic 422 ("extra_forbidden") names, if any.

    Shapes seen: ``{"detail": [...]}`` (FastAPI) and Mistral's
    ``{"object": "error", "message": {"detail": [...]}}``, the message sometimes a JSON string.
    """
    import json

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


def list_models(profile: Profile, key: str) -> list[dict[str, Any]]:
    """``GET /models``: one dict per model (id, owned_by, created), in the server's order."""
    client = make_client(profile, key)
    try:
        page = client.models.list()
        return [
            {"id": m.id, "owned_by": getattr(m, "owned_by", None), "created": getattr(m, "created", None)}
            for m in page
        ]
    except openai.APIError as e:
        raise translate(e, key, profile) from None


def _error_fields(body: object) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}
