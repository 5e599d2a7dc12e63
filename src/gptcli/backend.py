"""The seam between gptcli and a server's wire format: the ``Backend`` protocol.

A backend turns a request body (built by ``client.build_body``) into the server's
replies and its failures into ``errors`` types. It never decides what to send: the
family rules, the second chance and the key lookup stay in ``client``. Implementations
live in ``backends/`` (``openai``, and ``memory`` for tests); ``client.backend_for``
picks one from the profile's ``backend`` key. Everything here is typed in core values
(``models``, ``errors``), so nothing above the seam knows the wire format.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Protocol

from .models import BatchResult, Completion, Delta, Outcome, Profile, RequestDescription, ServerModel


class AsyncChat(Protocol):
    """Non-streamed requests many at once (``batch``): one attempt per ``send``, the caller retries."""

    async def send(self, body: dict[str, Any]) -> Outcome: ...

    async def aclose(self) -> None: ...


class BatchAPI(Protocol):
    """A server's asynchronous batch endpoints (OpenAI's Files and Batches)."""

    def upload(self, path: Path) -> str: ...

    def create(self, file_id: str, metadata: dict[str, str] | None = None) -> dict[str, Any]: ...

    def retrieve(self, batch_id: str) -> dict[str, Any]: ...

    def download(self, file_id: str, dest: Path) -> None: ...

    def custom_ids(self, path: Path) -> Iterator[str]: ...

    def results(self, path: Path) -> Iterator[BatchResult]: ...


class Backend(Protocol):
    """What gptcli needs from a server. Errors are ``GptcliError``s with key-free messages."""

    name: str

    def chat(self, profile: Profile, body: dict[str, Any], *, key: str) -> Generator[Delta, None, Completion]:
        """Send ``body`` once; yield text deltas (streamed bodies); return the Completion.

        A stream that breaks after it began raises ``StreamBroken`` with what arrived.
        """
        ...

    def async_chat(self, profile: Profile, key: str) -> AsyncChat: ...

    def list_models(self, profile: Profile, key: str) -> list[ServerModel]: ...

    def batch_api(self, profile: Profile, key: str) -> BatchAPI: ...

    def describe_request(self, profile: Profile, body: dict[str, Any]) -> RequestDescription:
        """The HTTP request ``chat`` would make (``--dry-run``), the key redacted; sends nothing."""
        ...

    def preload(self) -> None:
        """Do the slow imports now (``batch`` does it in a thread while it reads its input)."""
        ...
