"""A redirect on a POST means a misconfigured ``base_url`` (issue 17 #18).

httpx follows 301/302/303 by turning the POST into a GET, which the server then answers
with a 404 ("not found ... gptcli models"), or a loop of redirects: both misleading.
307/308 keep the method and body and are followed as before. For 301/302/303 on a POST
this response hook removes ``Location`` (so httpx does not follow it) and keeps it in
``response.extensions``; the backend reports it with ``error_for``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..models import redact_url

KEY = "gptcli_redirect"


def on_response(response: Any) -> None:
    if response.status_code in (301, 302, 303) and response.request.method == "POST":
        location = response.headers.get("location")
        if location is not None:
            response.extensions[KEY] = location
            del response.headers["location"]


async def aon_response(response: Any) -> None:
    on_response(response)


def error_for(e: Any, where: str) -> ConfigError | None:
    """The error for an SDK status error that is a refused redirect; None if it is not one."""
    response = getattr(e, "response", None)
    if response is None or (location := response.extensions.get(KEY)) is None:
        return None
    return ConfigError(
        f"{where} redirects requests (HTTP {response.status_code} to {redact_url(str(location))}):"
        " base_url is probably wrong",
        hint="set base_url to where it redirects, e.g. https:// instead of http://, or add /v1",
    )
