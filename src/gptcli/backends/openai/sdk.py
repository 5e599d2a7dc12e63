"""The SDK's client for a profile, and its exceptions as gptcli errors (the key scrubbed from every message).

The SDK is imported on first use (``_sdk``), with the garbage collector frozen; every
function here that uses it runs after ``make_client`` or ``preload``.
"""

from __future__ import annotations

import json
from typing import Any

from ..._gc import frozen_imports
from ...errors import APIError, GptcliError, NetworkError
from ...models import Profile, redact_url
from .. import openai_wire as wire
from ..classify import classify
from ..hints import connection_hint
from ..openai_wire import describe_exception, scrub

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

    from .. import deadline, redirects

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


def _with_time(err: GptcliError, e: BaseException, client: Any) -> GptcliError:
    """Say what happened in time: the deadline, or how long the retries took in all (issue 17 #9)."""
    from ..deadline import Exceeded
    from ..redirects import error_for

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
