"""Shared fixtures: every test runs in its own gptcli home, with a loopback server at hand.

``isolated`` (autouse) points HOME, the XDG dirs and GPTCLI_HOME at tmp_path and removes
OPENAI_* / GPTCLI_* variables, so no test can read or write the real user's files or
reach a real API; the home starts with gptcli's rank cache warm (hard links to files built
once per test process), as after a user's first token count. ``server`` is a live OpenAI-compatible server on 127.0.0.1.
``gptcli`` runs the real command (in this process; ``process=True`` for a real one, see
helpers.py) and returns its stdout, stderr and code. The helpers are re-exported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from fakeserver import FakeServer  # noqa: E402
from helpers import (  # noqa: E402, F401  (re-exported: the test files import them from here)
    ROOT,
    SECRET_KEY,
    SRC,
    TIKTOKEN_CACHE,
    Result,
    build_rank_cache_seed,
    check_rank_cache_seed,
    conversations,
    env_for_subprocess,
    link_rank_cache,
    read_jsonl,
    run_gptcli,
    spawn,
    write_profile,
)


@pytest.fixture(scope="session")
def _rank_cache_seed(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, tuple[int, int, int]]:
    """gptcli's rank cache, built once per test process (see helpers.build_rank_cache_seed)."""
    return build_rank_cache_seed(tmp_path_factory.mktemp("rank-cache-seed"))


@pytest.fixture(autouse=True)
def isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _rank_cache_seed: dict[Path, tuple[int, int, int]]
) -> Iterator[Path]:
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
    # The home's rank cache is warm, as after a user's first count: building it costs each
    # fresh home 1-2 s (more under load). Tests of a cold cache point GPTCLI_HOME elsewhere.
    link_rank_cache(_rank_cache_seed, tmp_path)
    yield tmp_path
    check_rank_cache_seed(_rank_cache_seed)


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


@pytest.fixture
def gptcli() -> Any:
    return run_gptcli
