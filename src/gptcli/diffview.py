"""Shim: ``gptcli.diffview`` is now ``gptcli.render.diff``.

Kept only because ``cli.py`` still does ``from . import diffview``; remove it once the
command imports ``gptcli.render.diff``.
"""

from __future__ import annotations

from .render.diff import render

__all__ = ["render"]
