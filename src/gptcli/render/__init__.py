"""Output: plain text when piped, Markdown on a terminal, JSON on request; status on stderr.

Renderers only render: they take values (and events) from the use cases and write
them; they import no use case. The package's modules, one job each:

* ``text``: terminal checks, JSON, error lines, ``Status`` (stderr), ``PlainStream``;
* ``markdown``: ``MarkdownStream`` (a reply rendered live) and ``print_markdown``;
* ``tables``: ``print_table`` and the rows of the ``replay`` listing;
* ``progress``: ``BatchProgress`` and the one-line batch plan and summary;
* ``thinking``: the spinner while a model thinks, its reasoning dimmed or folded;
* ``transcript``: a saved conversation as text, Markdown or an OpenAI line;
* ``diff``: old against new for ``replay --diff``.

The first five are re-exported here (``render.print_json`` and so on); ``transcript``
and ``diff`` are imported by name where they are used. rich is imported only inside
the functions that draw, so scripts piping ``gptcli ask`` never pay for it.
"""

from __future__ import annotations

from ..models import usd
from .code import print_code, terminal_safe
from .markdown import CODE_LINES, MarkdownStream, print_markdown
from .progress import BatchProgress, batch_models_text, batch_plan_text, batch_summary_text
from .safe import clean, clean_for
from .tables import iter_rows, local_time, print_table
from .text import (
    PlainStream,
    Status,
    color_allowed,
    cost_range,
    detail_text,
    dumps_json,
    error_line,
    isatty,
    print_error,
    print_json,
)
from .thinking import ReasoningStream, Spinner, folded, printable, usage_text

__all__ = [
    "CODE_LINES",
    "BatchProgress",
    "MarkdownStream",
    "PlainStream",
    "ReasoningStream",
    "Spinner",
    "Status",
    "batch_models_text",
    "batch_plan_text",
    "batch_summary_text",
    "clean",
    "clean_for",
    "color_allowed",
    "cost_range",
    "detail_text",
    "dumps_json",
    "error_line",
    "folded",
    "isatty",
    "iter_rows",
    "local_time",
    "print_code",
    "print_error",
    "print_json",
    "print_markdown",
    "print_table",
    "printable",
    "terminal_safe",
    "usage_text",
    "usd",
]
