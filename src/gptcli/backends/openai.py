"""The only module that imports ``openai``: the OpenAI-compatible backend (``backend = "openai"``).

A request body in, text deltas and a Completion out; SDK exceptions become gptcli errors
here, with the key scrubbed from every message. A stream that breaks after some text
raises ``StreamBroken`` carrying what arrived. The SDK is imported on first use (see
``_sdk``), so building or describing a request (``--dry-run``) never pays for it. The
JSON format itself (replies, error bodies, batch files) is in ``openai_wire``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._gc import frozen_imports
from ..errors import (
    APIError,
    GptcliError,
    IncompleteReply,
    NetworkError,
    NotFoundError,
    StreamBroken,
)
from ..models import (
    BatchResult,
    Completion,
    Delta,
    Outcome,
    Profile,
    RequestDescription,
    ServerModel,
    Usage,
    redact_url,
)
from . import openai_wire as wire
from .classify import classify
from .hints import connection_hint
from .openai_wire import describe_exception, error_fields, scrub
from .tool_deltas import ToolCallParts, message_calls

if TYPE_CHECKING:
    import openai

    from ..backend import Backend

CHAT_PATH = "/chat/completions"


def _sdk() -> None:
    """Import openai the first time, with the garbage collector frozen.

    ~35 ms of collection saved on every request (see _gc). Every function below that
    uses the SDK runs after ``make_client`` or ``preload``, which call this first, and
    then imports ``openai`` again locally (a dictionary lookup).
    """
    import sys

    if "openai" not in sys.modules:
        with frozen_imports():
            import openai  # noqa: F401


def _plain_http_client(base_url: str | None, timeout: Any, *, async_: bool) -> Any:
    """For a plain-http server (Ollama, vLLM, llama.cpp): an HTTP client that loads no CA bundle.

    Loading the CA bundle into an SSL context costs 15-30 ms per process, a tenth of a
    short ``ask`` (profiled in docs/benchmarks.md), and a plain-http URL never uses it.
    The context given instead verifies certificates but trusts no CA, so if a redirect
    ever led to https the handshake fails closed instead of going unverified. None (the
    SDK's own client) for https URLs, or when a proxy could carry http over TLS.
    """
    import os
    from urllib.parse import urlsplit

    if not base_url or urlsplit(base_url).scheme != "http":
        return None
    if any(os.environ.get(v) for v in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")):
        return None
    import ssl

    import openai

    trusts_nothing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname, no CAs
    cls = openai.DefaultAsyncHttpxClient if async_ else openai.DefaultHttpxClient
    return cls(timeout=timeout, verify=trusts_nothing)


def _skip_platform_probe(client: Any) -> None:
    """Tell the SDK the OS, which it otherwise finds by running ``uname -p`` (a fork: 10-20 ms).

    The answer only goes into a diagnostic header (X-Stainless-OS), and on Linux and
    macOS ``sys.platform`` gives it for free. Elsewhere, or if the SDK's internals
    change, the SDK decides as before.
    """
    import sys

    name = {"linux": "Linux", "darwin": "MacOS"}.get(sys.platform)
    if name is not None and getattr(client, "_platform", "absent") is None:
        client._platform = name


def make_client(profile: Profile, key: str, *, async_: bool = False) -> Any:
    _sdk()
    import httpx2 as httpx
    import openai

    from . import deadline, redirects

    timeout = httpx.Timeout(profile.timeout, connect=min(profile.timeout, profile.connect_timeout))
    cls = openai.AsyncOpenAI if async_ else _sync_client_class()
    http = _plain_http_client(profile.base_url, timeout, async_=async_)
    if http is None:
        http = (openai.DefaultAsyncHttpxClient if async_ else openai.DefaultHttpxClient)(timeout=timeout)
    clock = deadline.Clock(profile.deadline or deadline.DEFAULT, profile.timeout)
    if async_:
        http.event_hooks = {"request": [clock.aon_request], "response": [redirects.aon_response, clock.aon_response]}
    else:
        http.event_hooks = {"request": [clock.on_request], "response": [redirects.on_response, clock.on_response]}
    client = cls(
        api_key=key,
        base_url=profile.base_url,
        timeout=timeout,
        max_retries=profile.max_retries,
        default_headers=profile.headers or None,
        http_client=http,
    )
    setattr(client, "_gptcli_clock", clock)  # noqa: B010  (how _with_time finds it)
    _skip_platform_probe(client)
    return client


_SYNC_CLIENT: Any = None


def _sync_client_class() -> Any:
    """``openai.OpenAI`` whose retries follow what an error means, not only its status.

    The SDK retries every 5xx: a 500 that is really a request validation error (a pydantic
    dump from a proxy) would be sent three more times for the same answer. The body is
    read and classified (``classify.ERROR_RULES``) before the SDK's own rules apply.
    """
    global _SYNC_CLIENT
    if _SYNC_CLIENT is None:
        import openai

        class Client(openai.OpenAI):
            def _should_retry(self, response: Any) -> bool:
                status = response.status_code
                if status >= 500 and "x-should-retry" not in response.headers:
                    try:
                        response.read()
                        body = json.loads(response.text) if response.text.strip().startswith("{") else None
                        if not classify(status, body, response.text).rule.retry:
                            return False
                    except Exception:
                        pass  # unreadable: the SDK decides
                return bool(super()._should_retry(response))

        _SYNC_CLIENT = Client
    return _SYNC_CLIENT


def chat(profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
    """One request; a stream that ends before any text without finishing is sent again.

    Such a stream (cut off when the server took another request, or an empty event
    stream) is retried like a dropped connection, within the profile's ``max_retries``;
    once text has arrived it is an ``IncompleteReply`` (exit 6).
    """
    attempt = 0
    while True:
        try:
            return (yield from _chat_once(profile, body, key=key))
        except IncompleteReply as e:
            if e.partial.text or any(e.partial.texts) or attempt >= profile.max_retries:
                raise
            attempt += 1
            time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))


def _chat_once(profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
    client = make_client(profile, key)
    import openai

    from . import deadline

    start = time.monotonic()
    params = dict(body)
    stream = bool(params.pop("stream", False))
    known, extra = wire.split_params(params)
    try:
        if not stream:
            resp = client.chat.completions.create(**known, extra_body=extra or None)
            return _from_response(resp, body["model"], time.monotonic() - start)
        chunks = client.chat.completions.create(**known, stream=True, extra_body=extra or None)
    except openai.APIError as e:
        raise _with_time(translate(e, key, profile), e, client) from None
    except deadline.Exceeded as e:  # while reading a non-streamed body
        raise NetworkError(str(e), hint="raise 'deadline' (or --deadline)") from None
    except ValueError as e:  # a 200 whose body is not JSON (a proxy cut it short, an HTML page)
        raise NetworkError(f"the server's reply is not valid JSON ({describe_exception(e)})") from None
    return (yield from _consume(chunks, body, start, key, profile))


def _with_time(err: GptcliError, e: BaseException, client: Any) -> GptcliError:
    """Say what happened in time: the deadline, or how long the retries took in all (issue 17 #9)."""
    from .deadline import Exceeded
    from .redirects import error_for

    clock = getattr(client, "_gptcli_clock", None)
    if (refused := error_for(e, clock_url(client))) is not None:
        return refused
    cause = e.__cause__ or e.__context__
    if isinstance(cause, Exceeded):
        return NetworkError(str(cause), hint="raise 'deadline' (or --deadline)")
    if clock is not None and clock.attempts > 1 and isinstance(err, NetworkError):
        err.message += f" ({clock.attempts} attempts, {clock.elapsed():.1f} s in all)"
    return err


def clock_url(client: Any) -> str:
    return redact_url(str(getattr(client, "base_url", "") or "")).rstrip("/") or "the server"


def _consume(
    chunks: Any, body: dict[str, Any], start: float, key: str, profile: Profile
) -> Generator[Delta, None, Completion]:
    asked = int(body.get("n") or 1)
    texts: dict[int, list[str]] = {}  # by choice index: only the choices that arrived
    thoughts: dict[int, list[str]] = {}  # reasoning in a field of its own, by choice index
    reasons: dict[int, str] = {}
    calls = ToolCallParts()  # the first choice's tool calls, assembled by index (issue 20)
    usage: Usage | None = None
    model = body["model"]

    def completion(incomplete: bool) -> Completion:
        order = sorted(texts)
        return Completion(
            tuple("".join(texts[i]) for i in order),
            tuple(reasons.get(i) for i in order),
            model,
            usage,
            time.monotonic() - start,
            incomplete=incomplete,
            reasonings=tuple("".join(thoughts.get(i, [])) for i in order),
            tool_calls=calls.calls(),
        )

    try:
        for chunk in chunks:
            if getattr(chunk, "model", None):
                model = chunk.model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or ():
                i = choice.index or 0
                parts = texts.setdefault(i, [])
                content = choice.delta.content if choice.delta else None
                thought = wire.reasoning_field(choice.delta)
                if thought:
                    thoughts.setdefault(i, []).append(thought)
                if content:
                    parts.append(content)
                if content or thought:
                    yield Delta(content or "", i, thought)
                if i == 0 and choice.delta is not None and choice.delta.tool_calls:
                    calls.feed(choice.delta.tool_calls)
                if choice.finish_reason:
                    reasons[i] = choice.finish_reason
    except (KeyboardInterrupt, GeneratorExit):
        _close(chunks)
        raise
    except Exception as e:  # the stream broke: keep what arrived
        _close(chunks)
        message = _broken_stream_message(e, key, profile)
        raise StreamBroken(scrub(message, key), completion(True)) from None
    done = completion(False)
    why = wire.incomplete_choices(done, asked, stream=True)
    if why:
        raise IncompleteReply(why, replace(done, incomplete=True))
    return done


def _broken_stream_message(e: Exception, key: str, profile: Profile) -> str:
    """Why a stream stopped after it started: a stall, a dropped connection, a bad event."""
    import openai

    from .deadline import Exceeded

    if isinstance(e, Exceeded):
        return str(e)
    if isinstance(e, openai.APITimeoutError):
        return f"the reply stalled: nothing received for {profile.timeout:g} s"
    if isinstance(e, openai.APIConnectionError):
        return f"the connection broke mid-reply ({describe_exception(e.__cause__ or e)})"
    if isinstance(e, openai.APIError):
        return translate(e, key, profile).message
    if isinstance(e, ValueError):
        return f"the server sent a malformed event mid-reply ({describe_exception(e)})"
    return f"the connection broke mid-reply ({describe_exception(e)})"


def _close(chunks: Any) -> None:
    try:
        chunks.close()
    except Exception:
        pass


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
    completion = Completion(
        tuple((c.message.content or "") if c.message else "" for c in choices),
        tuple(c.finish_reason for c in choices),
        getattr(resp, "model", None) or model,
        _usage(resp.usage) if getattr(resp, "usage", None) else None,
        latency,
        reasonings=tuple(wire.reasoning_field(c.message) for c in choices),
        tool_calls=message_calls(choices[0].message) if choices else (),
    )
    why = wire.incomplete_choices(completion, len(choices))
    if why:
        raise IncompleteReply(why, replace(completion, incomplete=True))
    return completion


def translate(e: BaseException, key: str, profile: Profile) -> GptcliError:
    """An SDK exception as a gptcli error with a one-line, key-free message."""
    import openai

    where = profile.shown_url
    if isinstance(e, openai.APITimeoutError):
        if type(e.__cause__).__name__ == "ConnectTimeout":
            limit = min(profile.timeout, profile.connect_timeout)
            return NetworkError(f"could not connect to {where} within {limit:g} s", hint="raise 'connect_timeout'")
        return NetworkError(f"timed out after {profile.timeout:g} s waiting for {where}", hint="raise 'timeout'")
    if isinstance(e, openai.APIConnectionError):
        cause = e.__cause__ or e
        return NetworkError(
            f"cannot reach {where}: {scrub(describe_exception(cause), key)}", hint=connection_hint(where, cause)
        )
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        if status in (400, 422) and (extra := wire.extra_forbidden(e.body)):
            # pydantic-validated servers (Mistral, FastAPI proxies) refuse an unknown field this way.
            error = APIError(
                f"HTTP {status}: {extra!r} is not permitted by this server (extra_forbidden)",
                status=status,
                code="unsupported_parameter",
                param=extra,
            )
            error.detail = scrub(_raw_text(e), key) or None
            return error
        return wire.error_for(status, e.body, _raw_text(e), key, profile)
    if isinstance(e, openai.APIResponseValidationError):
        return NetworkError("the server's reply could not be read (malformed JSON)")
    if isinstance(e, openai.APIError):
        return NetworkError(f"bad reply from the server: {scrub(e.message, key)}")
    return NetworkError(scrub(describe_exception(e), key))


def _raw_text(e: Any) -> str:
    try:
        return str(e.response.text)
    except Exception:  # a streamed response never read, or no response at all
        return ""


def list_models(profile: Profile, key: str) -> list[ServerModel]:
    """``GET /models``: one entry per model (id, owned_by, created), in the server's order."""
    client = make_client(profile, key)
    import openai

    try:
        page = client.models.list()
        return [
            ServerModel(id=str(m.id), owned_by=getattr(m, "owned_by", None), created=getattr(m, "created", None))
            for m in page
        ]
    except openai.APIError as e:
        raise translate(e, key, profile) from None


# --- batch: many requests at once, one attempt per call (the caller retries) ------------


class AsyncChat:
    """Non-streamed chat requests over one ``AsyncOpenAI`` client, so one connection pool.

    The SDK's own retries are off (``max_retries=0``): the caller retries, so it can count
    attempts, share a server's Retry-After with every request in flight, and back off
    on its own schedule. The body goes out through the SDK's generic ``post`` exactly as
    ``client.build_body`` made it (so ``split_params`` is not needed), and the reply is read
    as plain JSON: with 64 requests in flight on two cores, the SDK's per-request
    parameter transform and pydantic parsing cost about as much CPU as the rest of the
    request (measured: 1.6 s vs 1.2 s of CPU for 1,000 requests).
    """

    def __init__(self, profile: Profile, key: str) -> None:
        self.profile = profile
        self.key = key
        self.client = make_client(replace(profile, max_retries=0), key, async_=True)

    async def send(self, body: dict[str, Any]) -> Outcome:
        import httpx2 as httpx
        import openai

        from . import deadline

        start = time.monotonic()
        try:
            response = await self.client.post(CHAT_PATH, body=body, cast_to=httpx.Response)
            data = json.loads(response.content)
        except openai.APIStatusError as e:
            from .redirects import error_for

            if (refused := error_for(e, clock_url(self.client))) is not None:
                return Outcome(error=refused, retryable=False)
            return self._refused(e)
        except openai.APIError as e:  # a timeout, a refused or dropped connection
            return Outcome(error=_with_time(translate(e, self.key, self.profile), e, None), retryable=True)
        except deadline.Exceeded as e:
            return Outcome(error=NetworkError(str(e), hint="raise 'deadline' (or --deadline)"), retryable=True)
        except ValueError as e:
            error = NetworkError(f"the server's reply is not valid JSON ({describe_exception(e)})")
            return Outcome(error=error, retryable=True)
        try:
            completion = wire.completion_from_dict(data, str(body.get("model", "")), time.monotonic() - start)
        except NetworkError as e:
            return Outcome(error=e, retryable=True)
        return Outcome(completion=completion)

    def _refused(self, e: openai.APIStatusError) -> Outcome:
        status = e.status_code
        code = error_fields(e.body).get("code")
        headers = e.response.headers
        should = (headers.get("x-should-retry") or "").lower()
        # The server's explicit say wins; else what its answer means (classify.ERROR_RULES):
        # a 408, 429 or 5xx is retried, a quota, a 4xx or a 500 validation error is not.
        retryable = (
            should == "true"
            if should in ("true", "false")
            else status == 409 or classify(status, e.body, _raw_text(e)).rule.retry
        )
        return Outcome(
            error=translate(e, self.key, self.profile),
            status=status,
            code=code if isinstance(code, str) else None,
            retryable=retryable,
            retry_after=wire.retry_after(headers),
        )

    async def aclose(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):  # closing after a cancellation must not raise
            await self.client.close()


class BatchAPI:
    """OpenAI's Files and Batches endpoints (a handful of calls per batch, so sync)."""

    ENDPOINT = "/v1/chat/completions"

    def __init__(self, profile: Profile, key: str) -> None:
        self.profile = profile
        self.key = key
        self.client = make_client(profile, key)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import openai

        try:
            return fn(*args, **kwargs)
        except openai.NotFoundError:
            where = self.profile.shown_url
            raise NotFoundError(f"{what}: not found at {where}") from None
        except openai.APIError as e:
            raise translate(e, self.key, self.profile) from None

    def upload(self, path: Path) -> str:
        """Upload a request file (purpose "batch"); its file id."""
        with open(path, "rb") as f:
            obj = self._call("upload", self.client.files.create, file=(path.name, f), purpose="batch")
        return str(obj.id)

    def create(self, file_id: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        obj = self._call(
            "create batch",
            self.client.batches.create,
            input_file_id=file_id,
            endpoint=self.ENDPOINT,
            completion_window="24h",
            metadata=metadata,
        )
        return dict(obj.model_dump())

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return dict(self._call(f"batch {batch_id}", self.client.batches.retrieve, batch_id).model_dump())

    def download(self, file_id: str, dest: Path) -> None:
        """A file's content, streamed to ``dest`` (output files can be large)."""

        def fetch() -> None:
            with self.client.files.with_streaming_response.content(file_id) as response, open(dest, "wb") as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)

        self._call(f"file {file_id}", fetch)

    def custom_ids(self, path: Path) -> Iterator[str]:
        return wire.custom_ids(path)

    def results(self, path: Path) -> Iterator[BatchResult]:
        return wire.batch_results(path)


class OpenAIBackend:
    """The ``Backend`` for OpenAI and every server that speaks its Chat Completions API."""

    name = "openai"

    def chat(self, profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
        return chat(profile, body, key=key)

    def async_chat(self, profile: Profile, key: str) -> AsyncChat:
        return AsyncChat(profile, key)

    def list_models(self, profile: Profile, key: str) -> list[ServerModel]:
        return list_models(profile, key)

    def batch_api(self, profile: Profile, key: str) -> BatchAPI:
        return BatchAPI(profile, key)

    def describe_request(self, profile: Profile, body: dict[str, Any]) -> RequestDescription:
        # The profile's own [headers] too, through settings() so credential values stay redacted.
        headers = {"Authorization": "Bearer [redacted]", "Content-Type": "application/json"}
        headers.update(profile.settings()["headers"])
        return RequestDescription("POST", profile.server_url.rstrip("/") + CHAT_PATH, headers, body)

    def preload(self) -> None:
        _sdk()


BACKEND: Backend = OpenAIBackend()  # what backends.load returns for "openai"
