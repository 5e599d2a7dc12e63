"""Shim: the price cache now lives in ``gptcli.prices`` (``cache_get``, ``cache_put``).

Kept so that ``completions`` keeps working until it imports ``prices`` directly.
"""

from __future__ import annotations

from gptcli.prices import MISSING
from gptcli.prices import cache_get as get
from gptcli.prices import cache_put as put

__all__ = ["MISSING", "get", "put"]
