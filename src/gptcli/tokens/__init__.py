"""Token accounting: which encoding a model uses, loading it, and counting with it.

The only package of gptcli that imports tiktoken, always inside functions, so
``gptcli --help`` never pays for it. Its modules, one job each:

* ``encodings``: model -> encoding (``encoding_name``), loading encodings fast and
  offline-safe (``get_encoding``, ``EncodingUnavailable``).
* ``counting``: ``count_text``, ``count_messages`` (the chat formula, tools included),
  ``upper_bound_tokens``, ``approx_tokens``.
* ``files``: ``count_file`` (large files: bounded memory, exact chunking, all cores).

Prices and context windows live in ``gptcli.prices``; the names re-exported from it
below (``model_info``, ``ModelInfo``, ``cost``, ``cost_range``, ``OPENAI_BASE_URL``)
are shims for callers not yet moved to it. The budget check and the one "count
exactly, else approximate" path are ``gptcli.budget``.
"""

from __future__ import annotations

from gptcli.prices import OPENAI_BASE_URL, ModelInfo, cost, cost_range, model_info
from gptcli.tokens.counting import (
    approx_tokens,
    count_messages,
    count_text,
    upper_bound_tokens,
)
from gptcli.tokens.encodings import EncodingUnavailable, clear_cache, encoding_name, get_encoding
from gptcli.tokens.files import count_file

__all__ = [
    "OPENAI_BASE_URL",
    "EncodingUnavailable",
    "ModelInfo",
    "approx_tokens",
    "clear_cache",
    "cost",
    "cost_range",
    "count_file",
    "count_messages",
    "count_text",
    "encoding_name",
    "get_encoding",
    "model_info",
    "upper_bound_tokens",
]
