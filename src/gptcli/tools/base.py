"""The tool values and the one protocol every source of tools implements.

A ``Toolbox`` is what the tool loop talks to: MCP servers (``tools.mcp``) in real runs,
``FunctionToolbox`` (plain Python callables) in tests and for recorded results. Users name
a tool ``server.tool`` (allow lists, ``--tools``); the model sees ``wire_name``, because the
Chat Completions API accepts only ``[A-Za-z0-9_-]{1,64}`` as a function name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

_WIRE_BAD = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    """One tool as its server describes it."""

    server: str
    name: str  # the tool's own name on its server
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    @property
    def qualified(self) -> str:
        """What users write: ``fs.read_file``."""
        return f"{self.server}.{self.name}"

    @property
    def wire_name(self) -> str:
        """What the model sees and calls: ``fs__read_file`` (at most 64 characters)."""
        return _WIRE_BAD.sub("_", f"{self.server}__{self.name}")[:64]

    def definition(self) -> dict[str, Any]:
        """The entry of the request's ``tools`` list."""
        fn: dict[str, Any] = {"name": self.wire_name, "parameters": self.input_schema}
        if self.description:
            fn["description"] = self.description
        return {"type": "function", "function": fn}


@dataclass(frozen=True)
class ToolResult:
    """What a call returned: text for the model, and whether it is an error."""

    text: str
    is_error: bool = False
    duration: float = 0.0
    truncated: bool = False  # cut at the result limit (the model is told so in ``text``)


class Toolbox(Protocol):
    """A source of tools: list them, call one, close (stop servers) at the end."""

    def specs(self) -> list[ToolSpec]: ...

    def call(self, spec: ToolSpec, arguments: dict[str, Any], *, timeout: float) -> ToolResult: ...

    def close(self) -> None: ...


@dataclass
class FunctionToolbox:
    """Tools backed by Python callables (tests, recorded results): ``{qualified: (spec, fn)}``."""

    tools: dict[str, tuple[ToolSpec, Callable[[dict[str, Any]], str]]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def add(self, spec: ToolSpec, fn: Callable[[dict[str, Any]], str]) -> None:
        self.tools[spec.qualified] = (spec, fn)

    def specs(self) -> list[ToolSpec]:
        return [spec for spec, _ in self.tools.values()]

    def call(self, spec: ToolSpec, arguments: dict[str, Any], *, timeout: float) -> ToolResult:
        self.calls.append((spec.qualified, arguments))
        start = time.monotonic()
        try:
            text = self.tools[spec.qualified][1](arguments)
        except Exception as e:  # a tool's failure is the model's to read, not a crash
            return ToolResult(f"error: {e}", is_error=True, duration=time.monotonic() - start)
        return ToolResult(text, duration=time.monotonic() - start)

    def close(self) -> None:
        pass
