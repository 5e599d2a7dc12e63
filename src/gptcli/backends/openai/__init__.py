"""The only package that imports ``openai``: the OpenAI-compatible backend (``backend = "openai"``).

A request body in, text deltas and a Completion out; SDK exceptions become gptcli errors
here, with the key scrubbed from every message. A stream that breaks after some text
raises ``StreamBroken`` carrying what arrived. The SDK is imported on first use (see
``_sdk``), so building or describing a request (``--dry-run``) never pays for it. The
JSON format itself (replies, error bodies, batch files) is in ``openai_wire``.

Modules by job: ``sdk`` (the client, errors), ``stream`` (one chat request), ``batch``
(``AsyncChat``, the Batch API); here the models list and the ``Backend`` itself.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ...models import Completion, Delta, Profile, RequestDescription, ServerModel
from .batch import AsyncChat, BatchAPI
from .sdk import CHAT_PATH, _plain_http_client, _sdk, clock_url, make_client, translate
from .stream import chat

if TYPE_CHECKING:
    from ...backend import Backend

__all__ = [
    "BACKEND",
    "CHAT_PATH",
    "AsyncChat",
    "BatchAPI",
    "OpenAIBackend",
    "_plain_http_client",
    "chat",
    "clock_url",
    "list_models",
    "make_client",
    "translate",
]


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
