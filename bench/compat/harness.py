"""The compatibility harness: run gptcli against a real server and judge each result.

A server script (``server_litellm.py``, ``server_llamacpp.py``) installs or finds its
server, starts it on 127.0.0.1, describes it with a ``Server`` and a list of ``Check``s,
and calls ``run_checks``. Each check is one gptcli command (the project's own source,
``src/`` on ``PYTHONPATH``, run by the project venv's Python, in a throw-away
``GPTCLI_HOME``); the result keeps the exit code, stderr's first line and line count,
whether stdout was right, and a verdict against what the README promises.

Modules: ``harness`` (the values, starting and stopping processes, running gptcli, the
verdict), ``verdicts`` (is stdout right?), ``fixtures`` (the server's error bodies saved for
tests), ``runner`` (all checks of a server, the results file), ``checks`` (the shared rows),
``run`` (every server, then docs/compatibility.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE / "results"
FIXTURES = ROOT / "tests" / "fixtures" / "servers"
PYTHON = os.environ.get("GPTCLI_PYTHON", "/work/main/.venv/bin/python")
KEY_ENV = "COMPAT_API_KEY"
HEADERS_OF_INTEREST = (
    "content-type",
    "retry-after",
    "retry-after-ms",
    "www-authenticate",
    "server",
    "x-litellm-version",
)
# what a one-line error must not carry: tracebacks and server-side source paths
LEAKS = re.compile(r"Traceback|File \"|site-packages|\.py\", line|\x1b")

NOT_TRIGGERED = "\n[compat: the reply ended before the signal or second request]"
Verdict = Callable[["Run"], str | None]  # None: right; otherwise what was wrong


@dataclass
class Server:
    """The server under test, as the checks need it."""

    name: str  # fixture folder and results file: litellm, llamacpp
    title: str  # column header: "LiteLLM proxy (mock)"
    version: str
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str
    api_key: str | None = None  # what the server wants (None: no key checked)
    profile_extra: str = ""  # more TOML lines for the profile
    log: Path | None = None  # the server's access log: counts the chat requests a check sent

    def chat_requests(self) -> int | None:
        if self.log is None or not self.log.exists():
            return None
        # uvicorn's access-log lines only: a server's traceback can quote the path too
        return self.log.read_bytes().count(b'"POST /v1/chat/completions HTTP')


@dataclass
class Check:
    id: str
    title: str
    argv: Sequence[str]  # after "gptcli"
    expect_exit: int = 0
    stdout: Verdict | None = None  # judged on success; errors want an empty stdout
    stdin: str | None = None
    key: str | None = "server"  # "server": the server's key; None: unset; else this literal key
    # stdout on a pty, and once the reply starts to arrive: "sigint", or "second-request" (run ``second`` too)
    on_output: str = ""
    second: Sequence[str] = ()
    record: bool = False  # save the server's answer to gptcli's request as a fixture
    record_stream: bool = True  # ... in both the streamed and the plain form
    extra: Verdict | None = None  # another condition (the log, a file), judged always
    max_requests: int | None = None  # e.g. 1: a 4xx is never retried (needs the server's access log)
    before: Sequence[Sequence[str]] = ()  # gptcli commands run first, in the same home (e.g. a turn to continue)
    timeout: float = 120.0
    what: str = ""  # for the fixture note: what this request provokes


@dataclass
class Run:
    argv: list[str]
    exit: int
    stdout: str
    stderr: str
    seconds: float
    home: Path
    workdir: Path

    @property
    def stderr_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def last_assistant(self) -> dict[str, Any] | None:
        """The last assistant record of the newest conversation log, or None."""
        logs = sorted((self.home / "data" / "conversations").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        if not logs:
            return None
        last = None
        for line in logs[-1].read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if rec.get("type") == "message" and rec.get("role") == "assistant":
                    last = rec
        return last


@dataclass
class Result:
    check: str
    title: str
    argv: list[str]
    exit: int
    expect_exit: int
    stderr_first: str
    stderr_lines: int
    stdout_ok: bool | None
    ok: bool
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fixtures: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process(
    argv: Sequence[str],
    *,
    log: Path,
    ready_url: str,
    wait: float = 180.0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in its own process group; yield once ``ready_url`` answers; always stop it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
        try:
            deadline = time.monotonic() + wait
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited ({proc.returncode}) before it was ready; see {log}")
                with contextlib.suppress(OSError), urllib.request.urlopen(ready_url, timeout=2):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready after {wait:.0f} s; see {log}")
                time.sleep(0.5)
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we created, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def as_from_a_terminal() -> None:
    """In the child, before exec: SIGINT as a shell with job control leaves it (not ignored).

    A command started in the background by a shell without job control (``cmd &`` in a
    script, a CI step) inherits SIGINT *ignored*, and Python then installs no
    KeyboardInterrupt handler: ``gptcli ask`` rightly keeps ignoring it, as any program
    should. The harness may itself run that way; the checks send SIGINT as a user's
    Ctrl-C would reach a program started from a terminal, so the children get it back.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def gptcli_env(home: Path, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GPTCLI_"))}
    env.update(
        GPTCLI_HOME=str(home),
        HOME=str(home),
        PYTHONPATH=str(ROOT / "src"),
        TIKTOKEN_CACHE_DIR=os.environ.get("TIKTOKEN_CACHE_DIR", "/work/shared/tiktoken-cache"),
        NO_COLOR="1",
        COLUMNS="100",
        TERM="dumb",
    )
    env.pop(KEY_ENV, None)
    if key is not None:
        env[KEY_ENV] = key
    return env


def write_profile(home: Path, server: Server) -> None:
    prof = home / "config" / "profiles" / "compat.toml"
    prof.parent.mkdir(parents=True, exist_ok=True)
    prof.write_text(
        f'base_url = "{server.base_url}"\nmodel = "{server.model}"\napi_key_env = "{KEY_ENV}"\n'
        f"timeout = 60\n{server.profile_extra}\n",
        encoding="utf-8",
    )


def gptcli(server: Server, check: Check, home: Path, workdir: Path) -> Run:
    argv = [PYTHON, "-m", "gptcli", *check.argv]
    key = server.api_key if check.key == "server" else check.key
    if check.key == "server" and key is None:
        key = "sk-compat-unchecked"
    env = gptcli_env(home, key)
    t0 = time.monotonic()
    if check.on_output:
        code, out, err = _run_on_pty(argv, env, workdir, check)
    else:
        try:
            p = subprocess.run(
                argv,
                input=(check.stdin or "").encode(),
                capture_output=True,
                env=env,
                cwd=workdir,
                timeout=check.timeout,
                preexec_fn=as_from_a_terminal,
            )
            code, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            code, out, err = -9, e.stdout or b"", (e.stderr or b"") + b"\n[compat: killed after the timeout]"
    return Run(
        ["gptcli", *check.argv],
        code,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        time.monotonic() - t0,
        home,
        workdir,
    )


def _run_on_pty(argv: list[str], env: dict[str, str], cwd: Path, check: Check) -> tuple[int, bytes, bytes]:
    """stdout on a pseudo-terminal (as a user sees it); once reply text arrives, SIGINT or a second request."""
    master, slave = pty.openpty()
    err_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the child is gone)
    stdin = subprocess.PIPE if check.stdin is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        argv, stdin=stdin, stdout=slave, stderr=err_file, env=env, cwd=cwd, preexec_fn=as_from_a_terminal
    )
    os.close(slave)
    if check.stdin is not None and proc.stdin:
        proc.stdin.write(check.stdin.encode())
        proc.stdin.close()
    out = b""
    sent = False
    other: subprocess.Popen[bytes] | None = None
    deadline = time.monotonic() + check.timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk and proc.poll() is not None:
                break
            out += chunk
            if not sent and out.strip():  # the reply has begun (status goes to stderr, a file)
                if check.on_output == "sigint":
                    proc.send_signal(signal.SIGINT)
                else:
                    second = [argv[0], "-m", "gptcli", *check.second]
                    other = subprocess.Popen(
                        second,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        env=env,
                        cwd=cwd,
                        preexec_fn=as_from_a_terminal,
                    )
                sent = True
        elif proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.kill()
    code = proc.wait()
    with contextlib.suppress(OSError):
        while True:
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                break
            chunk = os.read(master, 65536)
            if not chunk:
                break
            out += chunk
    os.close(master)
    err_file.seek(0)
    err = err_file.read()
    err_file.close()
    if other is not None:
        try:
            err += f"\n[compat: the second request exited {other.wait(check.timeout)}]".encode()
        except subprocess.TimeoutExpired:
            other.kill()
            other.wait()
    if not sent:
        err += NOT_TRIGGERED.encode()
    return code, out, err


# --------------------------------------------------------------------------------------
# verdicts


def judge(check: Check, run: Run, requests: int | None = None) -> Result:
    problems: list[str] = []
    if check.max_requests is not None and requests is not None and requests > check.max_requests:
        problems.append(f"{requests} requests sent (retried), at most {check.max_requests} expected")
    lines = run.stderr_lines
    if run.exit != check.expect_exit:
        problems.append(f"exit {run.exit}, expected {check.expect_exit}")
    stdout_ok: bool | None = None
    if check.expect_exit in (0, 130) and check.stdout is not None:
        why = check.stdout(run)
        stdout_ok = why is None
        if why:
            problems.append(f"stdout: {why}")
    elif check.expect_exit not in (0, 130):
        stdout_ok = run.stdout == ""
        if not stdout_ok:
            problems.append(f"stdout not empty on an error: {run.stdout[:80]!r}")
        if len(lines) != 1:
            problems.append(f"stderr has {len(lines)} lines, expected one")
        if lines and not lines[0].startswith("gptcli: error:"):
            problems.append("stderr's first line is not 'gptcli: error: ...'")
    if LEAKS.search(run.stderr):
        problems.append("stderr shows a traceback, server source paths or control sequences")
    if check.extra is not None:
        why = check.extra(run)
        if why:
            problems.append(why)
    return Result(
        check.id,
        check.title,
        run.argv,
        run.exit,
        check.expect_exit,
        lines[0][:300] if lines else "",
        len(lines),
        stdout_ok,
        not problems,
        problems,
        round(run.seconds, 2),
    )
