"""Token accounting: which encoding a model uses, loading it, and counting with it.

The only package of gptcli that imports tiktoken, always inside functions, so
``gptcli --help`` never pays for it. Its modules, one job each:

* ``encodings``: model -> encoding (``encoding_name``), loading encodings fast and
  offline-safe (``get_encoding``, ``EncodingUnavailable``).
* ``counting``: ``count_text``, ``count_messages`` (the chat formula, tools included),
  ``upper_bound_tokens``, ``approx_tokens``.
* ``files``: ``count_file`` (large files: bounded memory, exact chunking, all cores).

Prices and context windows live in ``gptcli.prices``; the budget check and the one
"count exactly, else approximate" path are ``gptcli.budget``.
"""

from __future__ import annotations

from gptcli.tokens.counting import (
    approx_tokens,
    count_messages,
    count_text,
    upper_bound_tokens,
)
from gptcli.tokens.encodings import EncodingUnavailable, clear_cache, encoding_name, get_encoding
from gptcli.tokens.files import count_file

__all__ = [
    "EncodingUnavailable",
    "approx_tokens",
    "clear_cache",
    "count_file",
    "count_messages",
    "count_text",
    "encoding_name",
    "get_encoding",
    "upper_bound_tokens",
]
