"""Shared helpers for gptcli's benchmarks: timing, the loopback server, the environment.

Every ``bench/bench_*.py`` module may import this (``bench/`` is on ``sys.path`` when
``bench/run.py`` runs them). Pure Python, so anyone can rerun the benchmarks without
installing hyperfine: each sample is one subprocess timed with ``time.perf_counter``
(wall) and ``getrusage(RUSAGE_CHILDREN)`` (user + system CPU of that child).

Method, shared by every row:

* commands compared in one row are **interleaved** (A, B, A, B, ...), so a burst of load
  on a shared machine hits both sides alike, and a ratio is always taken within one run;
* warm-up rounds first (page cache, ``__pycache__``, gptcli's price cache), not recorded;
* the median is reported with min-max; ratios are ratios of medians.

A module's ``run(quick: bool = False) -> dict`` returns (all keys optional)::

    {"title": "gptcli count",
     "rows": [{"name": "count \"hi\"", "value": "41 ms", "baseline": "tiktoken 60 ms",
               "ratio": 0.68, "target": "<= 0.8x", "met": True, "note": "..."}],
     "notes": ["free text, Markdown"],
     "command": "how to rerun just this"}

Rows may carry other keys too; ``run.py`` shows every key it finds as a column.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FAKESERVER = ROOT / "tests" / "fakeserver.py"
API_KEY = "sk-bench-0123456789"


# --------------------------------------------------------------------------------------
# timing


@dataclass
class Stats:
    """Samples of one command: wall and CPU seconds."""

    label: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.wall) and not self.failures

    @property
    def median(self) -> float:
        return statistics.median(self.wall) if self.wall else float("nan")

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")

    @property
    def min(self) -> float:
        return min(self.wall) if self.wall else float("nan")

    @property
    def max(self) -> float:
        return max(self.wall) if self.wall else float("nan")

    def ratio(self, base: Stats) -> float:
        return self.median / base.median if base.wall and self.wall else float("nan")

    def cpu_ratio(self, base: Stats) -> float:
        return self.cpu_median / base.cpu_median if base.cpu and self.cpu else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "median_s": self.median,
            "min_s": self.min,
            "max_s": self.max,
            "cpu_median_s": self.cpu_median,
            "runs": len(self.wall),
            "failures": self.failures[:3],
        }


@dataclass
class Cmd:
    """One command to time: argv (or a shell line), its environment, stdin and stdout."""

    label: str
    argv: Sequence[str] | str
    env: Mapping[str, str] | None = None
    stdin: bytes | None = None
    stdout_path: Path | None = None  # None: /dev/null
    shell: bool = False
    timeout: float = 600.0
    check: Any = None  # optional callable(stdout_path or None) -> str | None (an error)


def time_once(cmd: Cmd) -> tuple[float, float, str | None]:
    """Run ``cmd`` once: (wall seconds, child CPU seconds, error or None)."""
    out: IO[bytes] | int
    out_file = None
    if cmd.stdout_path is not None:
        out_file = open(cmd.stdout_path, "wb")  # noqa: SIM115
        out = out_file
    else:
        out = subprocess.DEVNULL
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd.argv,
            input=cmd.stdin if cmd.stdin is not None else b"",
            stdout=out,
            stderr=subprocess.PIPE,
            env=dict(cmd.env) if cmd.env is not None else None,
            shell=cmd.shell,
            timeout=cmd.timeout,
        )
        wall = time.perf_counter() - start
        error = None
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            error = f"exit {proc.returncode}: {' | '.join(tail)[:300]}"
    except subprocess.TimeoutExpired:
        wall = time.perf_counter() - start
        error = f"timed out after {cmd.timeout:g} s"
    finally:
        if out_file is not None:
            out_file.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if error is None and cmd.check is not None:
        error = cmd.check(cmd.stdout_path)
    return wall, cpu, error


def measure(cmds: Sequence[Cmd], *, runs: int, warmup: int = 1) -> list[Stats]:
    """Time each command ``runs`` times, interleaved, after ``warmup`` unrecorded rounds."""
    stats = [Stats(c.label) for c in cmds]
    for _ in range(warmup):
        for c, s in zip(cmds, stats, strict=True):
            _, _, error = time_once(c)
            if error:
                s.failures.append(f"warm-up: {error}")
    for _ in range(runs):
        for c, s in zip(cmds, stats, strict=True):
            if s.failures:
                continue  # a broken command is reported, not timed over and over
            wall, cpu, error = time_once(c)
            if error:
                s.failures.append(error)
            else:
                s.wall.append(wall)
                s.cpu.append(cpu)
    return stats


def fmt_s(seconds: float) -> str:
    """0.0123 -> '12.3 ms'; 2.5 -> '2.50 s'."""
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


# --------------------------------------------------------------------------------------
# the loopback server


class Server:
    """``tests/fakeserver.py`` as a subprocess: ``with Server(tokens=2000) as s: s.url``."""

    def __init__(self, *args: str, tokens: int | None = None, delay: float | None = None) -> None:
        self.args = list(args)
        if tokens is not None:
            self.args += ["--tokens", str(tokens)]
        if delay is not None:
            self.args += ["--delay", str(delay)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKESERVER), "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("http"):
            self.__exit__()
            raise RuntimeError(f"fakeserver did not start (first line: {line!r})")
        self.url = line
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# --------------------------------------------------------------------------------------
# the environment


def python() -> str:
    return sys.executable


def gptcli_argv() -> list[str]:
    """The installed ``gptcli`` console script next to this Python, else ``python -m gptcli``."""
    script = Path(sys.executable).parent / "gptcli"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gptcli"]


def tiktoken_cache() -> str | None:
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return os.environ["TIKTOKEN_CACHE_DIR"]
    shared = ROOT.parent / "shared" / "tiktoken-cache"
    return str(shared) if shared.is_dir() else None


def clean_env(home: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """An environment isolated in ``home``: no user config, no real API, no proxy."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "GPTCLI_", "XDG_", "LLM_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        and k not in ("PYTHONPATH", "NO_COLOR", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env.update(
        # Byte-code caching on, as in any installed program (PYTHONDONTWRITEBYTECODE would make
        # every run recompile whatever changed since the last cache), in a private cache so
        # the warm-up fills it and nothing is written next to the sources.
        PYTHONPYCACHEPREFIX=str(home / "pycache"),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        GPTCLI_HOME=str(home / "gptcli"),
        NO_PROXY="127.0.0.1,localhost",
        COLUMNS="100",
    )
    if cache := tiktoken_cache():
        env["TIKTOKEN_CACHE_DIR"] = cache
    if url:
        env["OPENAI_BASE_URL"] = url
        env["OPENAI_API_KEY"] = API_KEY
    env.update(extra)
    return env


@contextlib.contextmanager
def temp_home(prefix: str = "gptcli-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
