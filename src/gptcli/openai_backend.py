"""Compatibility shim: the OpenAI backend moved to ``gptcli.backends.openai``.

Kept so that code written against the old module keeps importing (``batch`` types
itself against ``AsyncChat``, ``BatchAPI`` and ``Outcome``: these names are now the
protocols of ``gptcli.backend`` and the value of ``gptcli.models``, which is what
``client.async_chat`` / ``client.batch_api`` return). Remove once nothing imports it.
"""

from __future__ import annotations

from .backend import AsyncChat, BatchAPI
from .backends.openai import _plain_http_client, chat, list_models, make_client, translate
from .backends.openai_wire import completion_from_dict, retry_after
from .errors import StreamBroken
from .models import BatchResult, Outcome

__all__ = [
    "AsyncChat",
    "BatchAPI",
    "BatchResult",
    "Outcome",
    "StreamBroken",
    "_plain_http_client",
    "chat",
    "completion_from_dict",
    "list_models",
    "make_client",
    "retry_after",
    "translate",
]
