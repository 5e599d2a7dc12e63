"""The compatibility harness: run gptcli against a real server and judge each result.

A server script (``server_litellm.py``, ``server_llamacpp.py``) installs or finds its
server, starts it on 127.0.0.1, describes it with a ``Server`` and a list of ``Check``s,
and calls ``run_checks``. Each check is one gptcli command (the project's own source,
``src/`` on ``PYTHONPATH``, run by the project venv's Python, in a throw-away
``GPTCLI_HOME``); the result keeps the exit code, stderr's first line and line count,
whether stdout was right, and a verdict against what the README promises.

Error checks also send gptcli's exact request (from ``--dry-run``) straight to the server
and save the answer (status, headers of interest, body) under
``tests/fixtures/servers/<server>/``: the recorded bodies issue 15's tests replay.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
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


@dataclass
class Check:
    id: str
    title: str
    argv: Sequence[str]  # after "gptcli"
    expect_exit: int = 0
    stdout: Verdict | None = None  # judged on success; errors want an empty stdout
    stdin: str | None = None
    key: str | None = "server"  # "server": the server's key; None: unset; else this literal key
    sigint_after_output: bool = False  # stdout on a pty; SIGINT once the reply starts to arrive
    record: bool = False  # save the server's answer to gptcli's request as a fixture
    record_stream: bool = True  # ... in both the streamed and the plain form
    extra: Verdict | None = None  # another condition (the log, a file), judged always
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
    if check.sigint_after_output:
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
    """stdout on a pseudo-terminal (as a user sees it); SIGINT once reply text has arrived."""
    master, slave = pty.openpty()
    err_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the child is gone)
    stdin = subprocess.PIPE if check.stdin is not None else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdin=stdin, stdout=slave, stderr=err_file, env=env, cwd=cwd)
    os.close(slave)
    if check.stdin is not None and proc.stdin:
        proc.stdin.write(check.stdin.encode())
        proc.stdin.close()
    out = b""
    sent = False
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
            if not sent and len(out.strip()) >= 40:
                time.sleep(0.3)  # well inside the stream, not at its first byte
                proc.send_signal(signal.SIGINT)
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
    if not sent:
        err += b"\n[compat: the reply ended before any SIGINT was sent]"
    return code, out, err


# --------------------------------------------------------------------------------------
# verdicts


def judge(check: Check, run: Run) -> Result:
    problems: list[str] = []
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


# stdout verdicts, shared by the server scripts


def nonempty(run: Run) -> str | None:
    return None if run.stdout.strip() else "empty"


def exactly(text: str) -> Verdict:
    def v(run: Run) -> str | None:
        return None if run.stdout == text + "\n" else f"{run.stdout[:80]!r} instead of {text!r}"

    return v


def choices(n: int, each: Verdict | None = None) -> Verdict:
    """``-n N`` printed as N non-empty blocks under ``--- choice i of N ---``."""

    def v(run: Run) -> str | None:
        parts = re.split(r"^--- choice \d+ of \d+ ---$", run.stdout, flags=re.M)
        blocks = [p.strip() for p in parts[1:]]
        if len(blocks) != n:
            return f"{len(blocks)} choice blocks, expected {n}"
        empty = [i + 1 for i, b in enumerate(blocks) if not b]
        return f"choice {', '.join(map(str, empty))} empty" if empty else None

    return v


def json_reply(n: int = 1, max_completion: int | None = None) -> Verdict:
    """``--json``: one object; ``text`` a string (a list of ``n`` when n > 1); usage bounded if asked."""

    def v(run: Run) -> str | None:
        try:
            obj = json.loads(run.stdout)
        except ValueError:
            return "not one JSON object"
        text = obj.get("text")
        if n == 1 and not (isinstance(text, str) and text):
            return f"text is {type(text).__name__} {str(text)[:40]!r}"
        if n > 1:
            if not isinstance(text, list):
                return f"text is a {type(text).__name__}, the README promises a list when n > 1"
            if len(text) != n or not all(text):
                return f"text has {len(text)} items ({sum(1 for t in text if t)} non-empty), expected {n}"
        if obj.get("incomplete"):
            return "marked incomplete"
        usage = obj.get("usage") or {}
        if max_completion is not None and (usage.get("completion_tokens") or 0) > max_completion:
            return f"completion_tokens {usage.get('completion_tokens')} > --max-tokens {max_completion}"
        return None

    return v


def chat_replies(n: int) -> Verdict:
    def v(run: Run) -> str | None:
        got = [ln for ln in run.stdout.splitlines() if ln.strip()]
        return None if len(got) >= n else f"{len(got)} reply lines, expected at least {n}"

    return v


def interrupted_log(run: Run) -> str | None:
    """After SIGINT mid-stream: the partial reply is in the log, marked interrupted."""
    if "[compat: the reply ended before any SIGINT was sent]" in run.stderr:
        return "the reply finished before the signal (the check could not interrupt it)"
    rec = run.last_assistant()
    if rec is None:
        return "no assistant record in the log"
    if not rec.get("interrupted"):
        return "the log's reply is not marked interrupted"
    if not rec.get("content"):
        return "the log kept no partial text"
    return None


def complete_in_log(run: Run) -> str | None:
    """The reply the log keeps is not marked incomplete (it arrived whole)."""
    rec = run.last_assistant()
    if rec is None:
        return "no assistant record in the log"
    return "the log marks the reply incomplete" if rec.get("incomplete") else None


def batch_output(n: int, name: str = "out.jsonl") -> Verdict:
    def v(run: Run) -> str | None:
        path = run.workdir / name
        if not path.exists():
            return f"no {name}"
        recs = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        bad = [r for r in recs if r.get("error") or not r.get("text")]
        if len(recs) != n or bad:
            first = (bad[0].get("error") or {}).get("message", "empty text") if bad else ""
            return f"{len(recs)} records, {len(bad)} failed or empty (expected {n} answers) {first[:100]}".strip()
        return None

    return v


def models_list(model: str) -> Verdict:
    def v(run: Run) -> str | None:
        try:
            ids = [m.get("id") for m in json.loads(run.stdout)]
        except (ValueError, AttributeError):
            return "not a JSON list"
        return None if model in ids else f"{model!r} not among {ids[:5]}"

    return v


# --------------------------------------------------------------------------------------
# fixtures: the server's own answers to gptcli's requests


def dry_run_request(server: Server, check: Check, home: Path, workdir: Path) -> dict[str, Any] | None:
    """gptcli's exact request for this check, from ``--dry-run``."""
    if not check.argv or check.argv[0] != "ask":
        return None
    argv = [a for a in check.argv if a not in ("--json", "--no-stream")]
    dry = Check(check.id, "", [*argv, "--dry-run"], stdin=check.stdin, key=check.key)
    run = gptcli(server, dry, home, workdir)
    try:
        return dict(json.loads(run.stdout))
    except ValueError:
        return None


def send(url: str, body: dict[str, Any], key: str | None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def _anomalous_stream(raw: bytes) -> bool:
    """A 200 event stream that never says a requested choice finished."""
    finished = set()
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            with contextlib.suppress(ValueError):
                for ch in json.loads(line[5:]).get("choices") or []:
                    if ch.get("finish_reason"):
                        finished.add(ch.get("index", 0))
    return not finished


_VOLATILE = re.compile(r"chatcmpl-[\w-]+|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\"created\": ?\d+")


def _shortened(body: dict[str, Any]) -> dict[str, Any]:
    """The request body with long message texts cut (the over-long prompt is 80 kB)."""
    out = dict(body)
    msgs = []
    for m in body.get("messages") or []:
        c = m.get("content")
        if isinstance(c, str) and len(c) > 300:
            m = {**m, "content": f"{c[:120]}... [{len(c):,} characters in all]"}
        msgs.append(m)
    out["messages"] = msgs
    return out


def record(
    server: Server, check: Check, home: Path, workdir: Path, seen: dict[str, Path], today: Result | None = None
) -> list[str]:
    """Send gptcli's request for ``check`` to the server; save each distinct non-success answer."""
    req = dry_run_request(server, check, home, workdir)
    if not req:
        return []
    key = server.api_key if check.key == "server" else check.key
    if check.key == "server" and key is None:
        key = "sk-compat-unchecked"
    if check.key is None:
        key = "sk-no-key-required"  # what gptcli sends when no key is set (client.PLACEHOLDER_KEY)
    saved = []
    forms = [False, True] if check.record_stream else [False]
    for stream in forms:
        body = dict(req["body"])
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        status, headers, raw = send(req["url"], body, key)
        if status == 200 and not (stream and _anomalous_stream(raw)):
            continue
        text = raw.decode("utf-8", "replace")
        digest = hashlib.sha256(f"{status} {_VOLATILE.sub('', text)}".encode()).hexdigest()[:12]
        if digest in seen:
            note = json.loads(seen[digest].read_text(encoding="utf-8"))
            if check.id not in note["checks"]:
                note["checks"].append(check.id)
                seen[digest].write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            if str(seen[digest].relative_to(ROOT)) not in saved:
                saved.append(str(seen[digest].relative_to(ROOT)))
            continue
        parsed: Any
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        path = FIXTURES / server.name / f"{check.id}{'-stream' if stream else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        note = {
            "server": server.title,
            "server_version": server.version,
            "recorded": time.strftime("%Y-%m-%d"),
            "recorded_by": f"bench/compat/server_{server.name}.py (check {check.id!r})",
            "checks": [check.id],
            "what": check.what or check.title,
            "request": {
                "method": "POST",
                "path": urllib.parse.urlparse(req["url"]).path,
                "stream": stream,
                "body": _shortened(body),
            },
            "response": {
                "status": status,
                "headers": {k: headers[k] for k in HEADERS_OF_INTEREST if k in headers},
                "body": parsed,
            },
        }
        if today is not None:
            note["gptcli_at_recording"] = {
                "argv": today.argv,
                "exit": today.exit,
                "expected_exit": today.expect_exit,
                "stderr_first_line": today.stderr_first,
                "stderr_lines": today.stderr_lines,
            }
        path.write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        seen[digest] = path
        saved.append(str(path.relative_to(ROOT)))
    return saved


# --------------------------------------------------------------------------------------
# the run


def run_checks(
    server: Server, checks: Sequence[Check], *, only: set[str] | None = None, record_fixtures: bool = True
) -> list[Result]:
    results = []
    seen: dict[str, Path] = {}
    if record_fixtures:
        for old in (FIXTURES / server.name).glob("*.json"):
            old.unlink()
    with tempfile.TemporaryDirectory(prefix=f"gptcli-compat-{server.name}-") as tmp:
        for check in checks:
            if only and check.id not in only:
                continue
            home, workdir = Path(tmp) / check.id / "home", Path(tmp) / check.id / "work"
            workdir.mkdir(parents=True)
            write_profile(home, server)
            for name, text in _inputs().items():
                (workdir / name).write_text(text, encoding="utf-8")
            for argv in check.before:
                gptcli(server, Check(check.id, "", argv), home, workdir)
            run = gptcli(server, check, home, workdir)
            res = judge(check, run)
            if check.record and record_fixtures:
                res.fixtures = record(server, check, home, workdir, seen, res)
            print(
                f"{'ok  ' if res.ok else 'FAIL'} {check.id:<22} exit {run.exit:<3} {res.stderr_first[:90]}"
                + ("" if res.ok else f"\n      {'; '.join(res.problems)}"),
                file=sys.stderr,
                flush=True,
            )
            results.append(res)
    return results


def _inputs() -> dict[str, str]:
    long = " ".join(f"word{i % 97} and more" for i in range(4000))  # ~16,000 tokens: over any tiny window
    return {"prompts.txt": "Say hello.\nName a colour.\nCount to three.\nName a river.\n", "long.txt": long + "\n"}


def save_results(server: Server, results: Sequence[Result], notes: dict[str, str], about: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{server.name}.json"
    path.write_text(
        json.dumps(
            {
                "server": server.name,
                "title": server.title,
                "version": server.version,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "about": about,
                "notes": notes,
                "results": [asdict(r) for r in results],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def unavailable(name: str, title: str, why: str) -> Path:
    """Record that a server could not be installed or started here, and why."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "server": name,
                "title": title,
                "version": None,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "unavailable": why,
                "results": [],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return path
