"""Importing big libraries without the cyclic garbage collector, then freezing what they built.

Importing the openai SDK builds hundreds of pydantic model classes: objects that live as
long as the process. While it runs, the cyclic GC triggers well over a hundred times, one
of them a full collection, and frees next to nothing: about 35 ms of a ~400 ms ``gptcli
ask`` (profiled in docs/benchmarks.md). ``frozen_imports()`` turns the GC off for such an
import, then moves every object alive at that point into the permanent generation
(``gc.freeze()``) so that no later collection walks them again, and turns the GC back on
for the command's own work. The price: cyclic garbage made during the import (imports make
modules and classes, which stay anyway) is kept until exit.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_imports() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
