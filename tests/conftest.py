"""Shared fixtures: every test runs in its own gptcli home, with a loopback server at hand.

``isolated`` (autouse) points HOME, the XDG dirs and GPTCLI_HOME at tmp_path and removes
OPENAI_* / GPTCLI_* variables, so no test can read or write the real user's files or
reach a real API. ``server`` is a live OpenAI-compatible server on 127.0.0.1.
``gptcli`` runs the real command in a subprocess and returns its stdout, stderr and code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src"
sys.path.insert(0, str(TESTS))

from fakeserver import FakeServer  # noqa: E402

TIKTOKEN_CACHE = os.environ.get("TIKTOKEN_CACHE_DIR") or str(ROOT.parent / "shared" / "tiktoken-cache")
# A recognisable key: the secrets tests search every output and file for it.
SECRET_KEY = "sk-test-SECRET-d3adb33f-0123456789abcdef"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "GPTCLI_", "XDG_")) or var in ("NO_COLOR", "HTTPS_PROXY", "HTTP_PROXY"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GPTCLI_HOME", str(tmp_path / "gptcli"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", TIKTOKEN_CACHE)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("COLUMNS", "100")
    return tmp_path


@pytest.fixture(scope="session")
def _server_process_wide() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


@pytest.fixture
def server(_server_process_wide: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A clean loopback server; OPENAI_BASE_URL and OPENAI_API_KEY point gptcli at it."""
    s = _server_process_wide
    s.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", s.url)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    yield s
    s.reset()


def run_gptcli(
    *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> Result:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(SRC) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("PYTHONSAFEPATH", None)
    if env:
        full_env.update(env)
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        [sys.executable, "-m", "gptcli", *args],
        input=data if data is not None else b"",
        capture_output=True,
        env=full_env,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def gptcli() -> Any:
    return run_gptcli


def conversations(home: Path) -> list[Path]:
    d = home / "gptcli" / "data" / "conversations"
    return sorted(d.glob("*.jsonl")) if d.exists() else []


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
