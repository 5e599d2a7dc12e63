"""What the tests share besides fixtures: running gptcli, user profiles, reading what it saved.

``run_gptcli`` runs the real entry point (``gptcli.__main__.main``) in this process by
default: the same argv parsing, exit path and output as ``python -m gptcli``, without
paying ~0.5 s of interpreter start and ``import openai`` per command. File descriptors
0/1/2 are pointed at temporary files for the call (the renderer writes with ``os.write``
on stdout's descriptor), the environment is applied and restored, and the process-wide
state a command may change (signal handlers, gc, sys.std*, logging, caches keyed by the
home directory) is put back afterwards.

``process=True`` (and ``spawn``) start a real ``python -m gptcli``: for what only a real
process shows (start-up imports, signals, pipes whose reader goes away, the terminal,
several processes at once, the installed wheel).
"""

from __future__ import annotations

import faulthandler
import gc
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src"
if str(SRC) not in sys.path[:1]:
    sys.path.insert(0, str(SRC))  # this tree's gptcli, whatever else is installed


def _tiktoken_cache() -> str:
    """tiktoken's cache dir for the tests' reference encodings (the suite compares gptcli's counts
    with tiktoken's own). Offline, with no copy of tiktoken's files anywhere, the files are written
    from the ranks gptcli ships (byte for byte tiktoken's: tokens.bundled checks their SHA-256), so
    the README's test command needs no network and no TIKTOKEN_CACHE_DIR."""
    import hashlib
    import tempfile

    given = os.environ.get("TIKTOKEN_CACHE_DIR") or str(ROOT.parent / "shared" / "tiktoken-cache")
    from gptcli.tokens import bundled

    names = list(bundled.PUBLISHED)
    url = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
    files = {n: hashlib.sha1(url.format(n).encode()).hexdigest() for n in names}
    if all((Path(given) / f).is_file() for f in files.values()):
        return given
    made = Path(tempfile.gettempdir()) / f"gptcli-tests-tiktoken-{os.getuid()}"
    made.mkdir(mode=0o700, exist_ok=True)
    for name, fname in files.items():
        target = made / fname
        if target.is_file():
            continue
        ranks = bundled.load(name)
        assert ranks is not None, f"no bundled ranks for {name}"
        tmp = made / f"{fname}.{os.getpid()}.tmp"
        tmp.write_bytes(bundled.tiktoken_text(ranks))
        os.replace(tmp, target)  # two xdist workers may write it at once: the same bytes either way
    return str(made)


TIKTOKEN_CACHE = _tiktoken_cache()
# Session-wide fixtures load tiktoken's reference encodings outside any test's environment.
os.environ["TIKTOKEN_CACHE_DIR"] = TIKTOKEN_CACHE
# A recognisable key: the secrets tests search every output and file for it.
SECRET_KEY = "sk-test-SECRET-d3adb33f-0123456789abcdef"

_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGHUP, signal.SIGWINCH]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def write_profile(home: Path, name: str, text: str) -> Path:
    """A user profile ``name`` in the gptcli home under ``home`` (the ``isolated`` tmp_path)."""
    d = home / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def conversations(home: Path) -> list[Path]:
    d = home / "gptcli" / "data" / "conversations"
    return sorted(d.glob("*.jsonl")) if d.exists() else []


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def env_for_subprocess(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment (the test's isolation included), with this tree's src first."""
    full = dict(os.environ)
    full["PYTHONPATH"] = str(SRC) + os.pathsep + full.get("PYTHONPATH", "")
    full.pop("PYTHONSAFEPATH", None)
    if env:
        full.update(env)
    return full


def spawn(*args: str, stdin: Any = subprocess.DEVNULL, **kwargs: Any) -> subprocess.Popen[bytes]:
    """A real ``python -m gptcli`` with piped stdout and stderr; the caller waits for it."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("env", env_for_subprocess())
    return subprocess.Popen([sys.executable, "-m", "gptcli", *args], stdin=stdin, **kwargs)


def run_gptcli(
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    process: bool = False,
) -> Result:
    """Run ``gptcli *args`` with ``input`` on stdin; in this process unless ``process``."""
    data = input.encode() if isinstance(input, str) else (input or b"")
    if process:
        proc = subprocess.run(
            [sys.executable, "-m", "gptcli", *args],
            input=data,
            capture_output=True,
            env=env_for_subprocess(env),
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))
    return _in_process(list(args), data, env or {}, timeout)


def _in_process(args: list[str], data: bytes, env: dict[str, str], timeout: float) -> Result:
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        fin.write(data)
        fin.flush()
        fin.seek(0)
        state = _ProcessState(env)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        # A hang must not last forever: past 3x the time a subprocess would get, dump every
        # thread's stack and end this (xdist worker) process; the test is reported as crashed.
        faulthandler.dump_traceback_later(timeout * 3, exit=True, file=saved[2])
        try:
            for fd, f in zip((0, 1, 2), (fin, fout, ferr), strict=True):
                os.dup2(f.fileno(), fd)
            code = _call_main(args)
        finally:
            faulthandler.cancel_dump_traceback_later()
            for fd, old in zip((0, 1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
            state.restore()
        fout.seek(0)
        ferr.seek(0)
        return Result(code, fout.read().decode("utf-8", "replace"), ferr.read().decode("utf-8", "replace"))


def _std(fd: int, mode: str, errors: str) -> IO[str]:
    # As CPython makes them when not on a terminal: UTF-8 (the C.UTF-8 locale), lines split
    # at "\n" only, stdout block-buffered, stderr written through.
    raw = io.FileIO(fd, mode, closefd=False)
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding="utf-8", errors=errors, newline="\n", write_through=fd == 2)


def _command_tree_once() -> None:
    """Build the Click command tree of a Typer app once per test process, not once per command.

    A real process builds it once (``Typer.__call__`` -> ``typer.main.get_command``: about
    50 signatures inspected, 15-20 ms); in-process commands would rebuild the same tree
    every time. The tree depends only on the app, which gptcli sets up at import.
    """
    import typer.main

    if getattr(typer.main.get_command, "_built_once", False):
        return
    build = typer.main.get_command
    built: dict[int, tuple[Any, Any]] = {}  # id(app) -> (app, command): the app is kept alive

    def get_command(typer_instance: Any) -> Any:
        hit = built.get(id(typer_instance))
        if hit is None or hit[0] is not typer_instance:
            hit = built[id(typer_instance)] = (typer_instance, build(typer_instance))
        return hit[1]

    get_command._built_once = True  # type: ignore[attr-defined]
    typer.main.get_command = get_command


def _call_main(args: list[str]) -> int:
    from gptcli.__main__ import main

    _command_tree_once()

    sys.stdin = _std(0, "r", "surrogateescape")
    sys.stdout = _std(1, "w", "surrogateescape")
    sys.stderr = _std(2, "w", "backslashreplace")
    sys.argv = ["gptcli", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except Exception:
        traceback.print_exc()  # as the interpreter would, then exit 1
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    return code


class _ProcessState:
    """What a command may change in the process, saved at creation and put back by restore()."""

    def __init__(self, env: dict[str, str]) -> None:
        self.environ = dict(os.environ)
        os.environ.update(env)
        self.std = (sys.stdin, sys.stdout, sys.stderr)
        self.argv = sys.argv
        self.signals = {s: signal.getsignal(s) for s in _SIGNALS}
        self.gc_enabled = gc.isenabled()
        self.gc_frozen = gc.get_freeze_count()
        root = logging.getLogger()
        self.logging = (root.level, list(root.handlers))
        import urllib.request  # its global opener keeps the proxies of the first urlopen's env

        self.opener = urllib.request._opener  # type: ignore[attr-defined]

    def restore(self) -> None:
        sys.stdin, sys.stdout, sys.stderr = self.std
        sys.argv = self.argv
        for s, handler in self.signals.items():
            if handler is not None:
                signal.signal(s, handler)
        if self.gc_frozen == 0:
            # frozen_imports() freezes everything alive, this test's objects too. Unfreezing
            # nothing is a no-op, and asking first would cost more: get_freeze_count() walks
            # every frozen object (the whole test process, 30-100 ms a command).
            gc.unfreeze()
        (gc.enable if self.gc_enabled else gc.disable)()
        root = logging.getLogger()
        root.setLevel(self.logging[0])
        root.handlers[:] = self.logging[1]
        import urllib.request

        urllib.request.install_opener(self.opener)
        for key in set(os.environ) - set(self.environ):
            del os.environ[key]
        for key, value in self.environ.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        _forget_per_home_caches()


def _forget_per_home_caches() -> None:
    """What a real process would start without: loaded encodings and rank indexes (read from
    TIKTOKEN_CACHE_DIR, which tests change), and prices read from the home's cache dir."""
    tokens = sys.modules.get("gptcli.tokens")
    clear_cache = getattr(tokens, "clear_cache", None)
    if clear_cache is not None:
        clear_cache()
    for name in ("gptcli.prices",):
        mod = sys.modules.get(name)
        if mod is None:
            continue
        memory = getattr(mod, "_memory", None)
        if isinstance(memory, dict):
            memory.clear()
        if hasattr(mod, "_loaded"):
            setattr(mod, "_loaded", None)  # noqa: B010  (the name may not exist after a restructure)


# prompt_toolkit asks where the cursor is (CPR); a terminal answers, and so must a pty test.
CPR = re.escape("\x1b[6n")


def expect_on_pty(child: Any, seen: list[str], pattern: str, what: str = "gptcli") -> str:
    """``child.expect(pattern)`` for a pexpect child, answering cursor-position requests on the way.

    Everything read is appended to ``seen``; the end of the output before the match comes out
    in the AssertionError when ``what`` ends first.
    """
    import pexpect

    while True:
        i = child.expect([CPR, pattern, pexpect.EOF])
        seen.append(child.before + (child.after if isinstance(child.after, str) else ""))
        if i == 0:
            child.send("\x1b[5;1R")
        elif i == 2:
            raise AssertionError(f"{what} ended while waiting for {pattern!r}: {''.join(seen)[-2000:]!r}")
        else:
            return str(child.after)


# ---------------------------------------------------------------------------------------
# gptcli's rank cache, built once per test process and linked into every test's home

RANK_CACHE_SUBDIR = Path("gptcli") / "cache" / "tiktoken"  # under the ``isolated`` tmp_path


def build_rank_cache_seed(seed_home: Path) -> dict[Path, tuple[int, int, int]]:
    """gptcli's own rank cache (marshal + index of the encodings it ships) in ``seed_home``.

    A fresh home builds it on its first token count: parsing the ranks and writing the
    index takes 1-2 s on a quiet machine (5 s and more under load), and every test has a
    fresh home. Built here by gptcli's own code (``tokens.encodings._full_ranks``), once per
    process; ``link_rank_cache`` gives each test's home hard links to these files. Returns
    each file's (inode, size, mtime) for ``check_rank_cache_seed``.
    """
    from gptcli.tokens import bundled, encodings

    saved = os.environ.get("GPTCLI_HOME")
    os.environ["GPTCLI_HOME"] = str(seed_home)
    try:
        for name in bundled.PUBLISHED:
            full_ranks = getattr(encodings, "_full_ranks", None)
            if full_ranks is not None:
                full_ranks(encodings._spec(name), False)  # writes the files, builds no Encoding
            else:
                encodings.get_encoding(name, download=False)
    finally:
        if saved is None:
            del os.environ["GPTCLI_HOME"]
        else:
            os.environ["GPTCLI_HOME"] = saved
        encodings.clear_cache()
    seed = seed_home / "cache" / "tiktoken"
    return {p: _stamp(p) for p in sorted(seed.iterdir()) if p.is_file()}


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def link_rank_cache(seed: dict[Path, tuple[int, int, int]], tmp_path: Path) -> None:
    """Hard links to the seed's files in the home of the test at ``tmp_path``.

    gptcli replaces its cache files atomically (write a temporary file, rename it over the
    name), which swaps the link and leaves the shared file alone; a damaged file fails its
    CRC and is rebuilt, never trusted. Tests about a cold or damaged cache use a home of
    their own (or unlink these files first). A copy instead of a link if they cannot be made.
    """
    target = tmp_path / RANK_CACHE_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    for src in seed:
        try:
            os.link(src, target / src.name)
        except OSError:
            import shutil

            shutil.copyfile(src, target / src.name)


def check_rank_cache_seed(seed: dict[Path, tuple[int, int, int]]) -> None:
    """Fail the test that wrote into a shared seed file in place (through its hard link)."""
    for path, stamp in seed.items():
        now = _stamp(path) if path.exists() else None
        assert now == stamp, f"a test changed the shared rank cache file {path} in place; write to a copy"
