"""Wheel build hook: refuse to build when the shipped token ranks are not tiktoken's.

``src/gptcli/tokens/data/*.ranks`` must decode to exactly the files whose SHA-256
tiktoken publishes (``gptcli.tokens.bundled.PUBLISHED``). The module is loaded by path:
it uses the standard library only, so this needs none of gptcli's dependencies.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class VerifyRanks(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        path = Path(self.root) / "src" / "gptcli" / "tokens" / "bundled.py"
        spec = importlib.util.spec_from_file_location("_gptcli_bundled_ranks", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in module.PUBLISHED:
            module.verify(name)  # ValueError stops the build
