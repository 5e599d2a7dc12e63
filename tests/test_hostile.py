"""Issue 17: hostile replies, servers, files and signals (docs/reliability.md, "Round two").

The terminal tests run gptcli under a pty (pexpect): what a model or a server sends must
not reach the terminal as a control sequence.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import conversations, env_for_subprocess, read_jsonl, write_profile
from fakeserver import Reply

# OSC 52 (clipboard), OSC 0 (title), CSI 2J (clear), OSC 8 (link), a C1 CSI, a DCS, BEL.
HOSTILE = (
    "A\x1b]52;c;SGVsbG8=\x07B\x1b]0;pwned\x07C\x1b[2JD"
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\E\x9b6nF\x1bP1$qm\x1b\\G\x07H"
)
FORBIDDEN = [b"\x1b]", b"\x1bP", b"\x1b[2J", b"\x9b", b"\x07", b"\x1b\\", b"\x1b[6n"]


def _on_a_pty(*args: str, shell: str | None = None) -> tuple[int, bytes]:
    pexpect = pytest.importorskip("pexpect")
    env = env_for_subprocess()
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
    if shell is not None:
        child = pexpect.spawn("/bin/sh", ["-c", shell], env=env, timeout=30)
    else:
        child = pexpect.spawn(sys.executable, ["-m", "gptcli", *args], env=env, timeout=30)
    out = child.read()
    child.close()
    return child.exitstatus, out


def _assert_safe(out: bytes) -> None:
    for seq in FORBIDDEN:
        assert seq not in out, (seq, out)


@pytest.mark.parametrize("mode", [[], ["--raw"]], ids=["markdown", "raw"])
def test_a_hostile_reply_never_reaches_the_terminal(server, isolated: Path, mode: list[str]) -> None:
    server.enqueue(Reply(text=HOSTILE))
    code, out = _on_a_pty("ask", *mode, "hi")
    assert code == 0, out
    _assert_safe(out)
    assert b"pwned" in out and b"^[" in out  # shown, not obeyed
    (path,) = conversations(isolated)
    assert read_jsonl(path)[-1]["content"] == HOSTILE  # the log keeps it as sent


def test_hostile_reply_in_chat_replay_and_diff(server, isolated: Path) -> None:
    server.enqueue(Reply(text=HOSTILE))
    server.enqueue(Reply(text=HOSTILE + "\nmore"))  # the re-run of --diff: a different answer
    code, out = _on_a_pty(shell=f"echo hi | {sys.executable} -m gptcli chat")
    assert code == 0, out
    _assert_safe(out)
    (path,) = conversations(isolated)
    cid = path.stem
    for args in (["replay", cid], ["replay", cid, "--format", "text"], ["replay", cid, "--diff"]):
        code, out = _on_a_pty(*args)
        assert code == 0, (args, out)
        _assert_safe(out)
        assert b"pwned" in out


def test_hostile_error_text_and_model_names(server, isolated: Path) -> None:
    server.enqueue(Reply(status=400, error={"message": "bad\x1b]0;pwned\x07 thing\x1b[2J\x9b6n"}))
    code, out = _on_a_pty("ask", "hi")
    assert code == 1, out
    _assert_safe(out)
    assert b"bad" in out and b"thing" in out  # the text is kept; the sequences are not obeyed (here: removed)
    server.known_models = ["gpt-4o-mini", "evil\x1b]0;pwned\x07model\x1b[2J"]
    code, out = _on_a_pty("models")
    assert code == 0, out
    _assert_safe(out)
    assert b"evil" in out and b"pwned" in out
    server.enqueue(Reply(model="evil\x1b]0;pwned\x07m"))
    code, out = _on_a_pty("ask", "-v", "hi")
    assert code == 0, out
    _assert_safe(out)


def test_a_pipe_gets_the_reply_byte_exact(server, gptcli) -> None:
    server.enqueue(Reply(text=HOSTILE))
    r = gptcli("ask", "hi")
    assert r.code == 0
    assert r.stdout == HOSTILE + "\n"


# --- #2 credentials in base_url -----------------------------------------------------------


def test_password_in_base_url_is_never_shown_or_stored(server, gptcli, isolated: Path) -> None:
    host = server.url.split("://", 1)[1]
    url = f"http://alice:s3cr3tpw@{host}"
    write_profile(isolated, "creds", f'base_url = "{url}"\n')
    dead = "http://alice:s3cr3tpw@127.0.0.1:9/v1"
    write_profile(isolated, "dead", f'base_url = "{dead}"\nmax_retries = 0\n')
    outputs = []
    for args in (
        ["ask", "-p", "creds", "hi"],
        ["ask", "-p", "creds", "--dry-run", "hi"],
        ["profiles", "show", "creds"],
        ["profiles", "show", "creds", "--json"],
        ["ask", "-p", "dead", "hi"],
        ["models", "-p", "creds"],
    ):
        r = gptcli(*args)
        outputs.append((args, r))
        assert "s3cr3tpw" not in r.stdout + r.stderr, (args, r)
    assert "alice:***@" in outputs[1][1].stdout  # --dry-run's url, redacted
    assert "alice:***@" in outputs[4][1].stderr  # the error line names the server, redacted
    for path in conversations(isolated):
        r = gptcli("replay", path.stem, "--format", "json")
        assert r.code == 0 and "s3cr3tpw" not in r.stdout
    for path in (isolated / "gptcli").rglob("*"):
        if path.is_file() and "profiles" not in path.parts:
            assert b"s3cr3tpw" not in path.read_bytes(), path


# --- #3 batch's copy of stdin ---------------------------------------------------------------


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def test_sigkilled_batch_from_stdin_leaves_no_prompts_in_tmp(server, gptcli, isolated: Path) -> None:
    tmp = isolated / "tmp"
    tmp.mkdir()
    out = isolated / "out.jsonl"
    server.default = Reply(delay=0.05)
    env = env_for_subprocess({"TMPDIR": str(tmp)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gptcli", "batch", "-", "-o", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write("".join(f"secret prompt {i}\n" for i in range(200)).encode())
        proc.stdin.close()
        _wait_for_lines(out, 3, proc)
    finally:
        proc.kill()
        proc.wait(10)
    assert list(tmp.iterdir()) == []  # nothing in the shared temp dir
    spool = isolated / "gptcli" / "cache" / "batch-stdin"
    (left,) = list(spool.iterdir())
    assert spool.stat().st_mode & 0o777 == 0o700 and left.stat().st_mode & 0o777 == 0o600
    server.default = Reply()
    r = gptcli("batch", "-", "-o", str(isolated / "two.jsonl"), input="one\n")
    assert r.code == 0, r.stderr
    assert list(spool.iterdir()) == []  # the stale copy is gone, and this run's own too


# --- #4 two batch runs on one output ---------------------------------------------------------


def test_a_second_batch_on_the_same_output_is_refused(server, gptcli, isolated: Path) -> None:
    src = isolated / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(100)), encoding="utf-8")
    out = isolated / "out.jsonl"
    server.default = Reply(delay=0.05)
    first = subprocess.Popen(
        [sys.executable, "-m", "gptcli", "batch", str(src), "-o", str(out), "-j", "2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env_for_subprocess(),
    )
    try:
        _wait_for_lines(out, 3, first)
        r = gptcli("batch", str(src), "-o", str(out), "--resume")
        assert r.code == 3, r.stderr
        (line,) = [x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]
        assert f"pid {first.pid}" in line
        server.default = Reply()
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert first.returncode == 0, err
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == 100 == len(set(ids))
    assert gptcli("batch", str(src), "-o", str(out), "--resume").code == 0  # the lock went with the run


# --- #6 parallel ask -c on one conversation --------------------------------------------------


@pytest.mark.slow  # four real processes continuing one conversation at once
def test_parallel_ask_c_keeps_each_question_with_its_answer(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "q0").code == 0
    server.default = Reply(delay=0.4)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gptcli", "ask", "-c", f"q{i}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env_for_subprocess(),
        )
        for i in range(1, 5)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    (path,) = conversations(isolated)
    msgs = [r for r in read_jsonl(path) if r.get("type") == "message"]
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 5
    for question, answer in zip(msgs[::2], msgs[1::2], strict=True):
        assert answer["content"] == "echo: " + question["content"]
    # each turn saw the turns before it: the last request carried the whole history
    assert len(server.chat_requests()[-1]["messages"]) == 9


# --- #7 bad records ---------------------------------------------------------------------------


def test_bad_records_are_skipped_with_a_warning_naming_the_line(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "one").code == 0
    (path,) = conversations(isolated)
    bad = [
        {"v": "1", "type": "message", "role": "user", "content": "string version"},
        {"v": 1, "type": "message", "role": "user", "content": {"evil": "object"}},
        {"v": 1, "type": "message", "role": "assistant", "content": 42},
    ]
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(b) + "\n" for b in bad)
    r = gptcli("ask", "-c", "two")
    assert r.code == 0, r.stderr
    warned = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert [w.split(": line ")[1].split(" ")[0] for w in warned] == ["4", "5", "6"], r.stderr
    sent = server.chat_requests()[-1]["messages"]
    assert [m["content"] for m in sent] == ["one", "echo: one", "two"]
    r = gptcli("replay", path.stem, "--format", "text")
    assert r.code == 0 and "skipped" in r.stderr


# --- #9 deadlines ------------------------------------------------------------------------------


class _Trickle(http.server.BaseHTTPRequestHandler):
    """A chat server that keeps the connection busy and never finishes: SSE pings, or one byte a second."""

    mode = "ping"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        stream = self.mode == "ping"
        self.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        self.end_headers()
        try:
            for _ in range(300):
                self.wfile.write(b": ping\n\n" if stream else b" ")
                self.wfile.flush()
                time.sleep(0.2 if stream else 1)
        except OSError:
            pass


@contextlib.contextmanager
def _trickle_server(mode: str) -> Iterator[str]:
    handler = type("H", (_Trickle,), {"mode": mode})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(
    ("mode", "args", "needle"),
    [
        ("ping", ["--deadline", "30"], "stalled: no event for 2 s"),
        ("trickle", ["--no-stream", "--deadline", "3"], "within the 3 s deadline"),
    ],
)
def test_a_server_that_keeps_the_line_busy_meets_a_deadline(
    gptcli, isolated: Path, mode: str, args: list[str], needle: str
) -> None:
    write_profile(isolated, "t", "timeout = 2\nmax_retries = 1\n")
    with _trickle_server(mode) as url:
        r = gptcli("ask", "-p", "t", "--base-url", url, *args, "hi", env={"OPENAI_API_KEY": "sk-x"}, timeout=60)
    assert r.code == 6, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]
    assert needle in line


def test_deadline_is_a_checked_profile_key(gptcli, isolated: Path) -> None:
    write_profile(isolated, "t", 'deadline = "soon"\n')
    r = gptcli("ask", "-p", "t", "hi")
    assert r.code == 3 and "'deadline' must be a number" in r.stderr


# --- #10 endless input ------------------------------------------------------------------------


def test_dev_zero_as_a_file_or_stdin_stops_at_once(server, isolated: Path) -> None:
    for args, stdin in ((["-f", "/dev/zero", "x"], None), ([], "/dev/zero")):
        with open(stdin or "/dev/null", "rb") as f:
            r = subprocess.run(
                [sys.executable, "-m", "gptcli", "ask", *args],
                stdin=f,
                capture_output=True,
                env=env_for_subprocess(),
                timeout=60,
            )
        assert r.returncode == 2, r.stderr
        assert b"looks binary" in r.stderr
    assert server.chat_requests() == []


def test_endless_text_input_is_refused_past_the_bound(server, gptcli, monkeypatch) -> None:
    from gptcli import prompt_input

    monkeypatch.setattr(prompt_input, "MAX_INPUT", 1000)
    r = gptcli("ask", input="y\n" * 600)
    assert r.code == 8, r.stderr
    assert "larger than" in r.stderr
    assert server.chat_requests() == []


# --- #11 a FIFO in the store ---------------------------------------------------------------------


def test_a_fifo_in_the_store_is_never_opened(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "one").code == 0
    (path,) = conversations(isolated)
    fifo = path.parent / "ffff00000000.jsonl"
    os.mkfifo(fifo)
    os.utime(path, (1, 1))  # the FIFO is the newest entry
    r = gptcli("ask", "-c", "two", timeout=30)
    assert r.code == 0, r.stderr
    assert [m["content"] for m in server.chat_requests()[-1]["messages"]] == ["one", "echo: one", "two"]
    r = gptcli("ask", "--cid", "ffff", "three", timeout=30)
    assert r.code in (2, 3), r.stderr
    assert len([x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]) == 1
    r = gptcli("replay", str(fifo), timeout=30)
    assert r.code == 3, r.stderr  # refused, not a hang


# --- #13 NaN and infinity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "profile", "code", "needle"),
    [
        (["-t", "nan"], None, 2, "--temperature"),
        (["--param", "temperature=NaN"], None, 2, "--param temperature"),
        (["--deadline", "inf"], None, 2, "--deadline"),
        ([], "temperature = nan", 3, "'temperature'"),
        ([], "timeout = nan", 3, "'timeout'"),
        ([], "timeout = inf", 3, "'timeout'"),
        ([], "price = {input = nan, output = 1}", 3, "'price' input"),
    ],
)
def test_nan_and_inf_are_refused_naming_the_key(
    server, gptcli, isolated: Path, args: list[str], profile: str | None, code: int, needle: str
) -> None:
    if profile is not None:
        write_profile(isolated, "t", profile + "\n")
        args = ["-p", "t", *args]
    r = gptcli("ask", *args, "hi")
    assert r.code == code, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]
    assert needle in line and "finite" in line
    assert server.chat_requests() == []


def test_set_nan_in_chat_is_refused(server, gptcli) -> None:
    r = gptcli("chat", input="/set temperature NaN\nhi\n")
    assert r.code == 0, r.stderr
    assert "finite" in r.stderr
    body = server.chat_requests()[-1]
    assert body.get("temperature") == body.get("temperature")  # not NaN (NaN != NaN)


# --- #14 bad headers, a bad base_url, a huge --since ------------------------------------------------


@pytest.mark.parametrize(
    "profile",
    [
        '[headers]\n"X Bad" = "v"\n',
        '[headers]\nX-Ok = "line\\nbreak"\n',
        'base_url = "http://[::1:bad/v1"\n',
        'base_url = "http://127.0.0.1:99999/v1"\n',
    ],
    ids=["space-in-name", "newline-in-value", "bad-ipv6", "bad-port"],
)
def test_bad_headers_and_urls_are_config_errors(server, gptcli, isolated: Path, profile: str) -> None:
    write_profile(isolated, "t", profile)
    r = gptcli("ask", "-p", "t", "hi")
    assert r.code == 3, r.stderr
    assert len([x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]) == 1
    assert server.chat_requests() == []


def test_since_far_in_the_past_is_a_usage_error(gptcli) -> None:
    r = gptcli("replay", "--since", "99999999999d")
    assert r.code == 2, r.stderr
    assert "--since" in r.stderr


# --- #15 a reader that leaves ---------------------------------------------------------------------


def _into_head(args: list[str], stdin: bytes = b"") -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gptcli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for_subprocess(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdout.read(10)
    proc.stdout.close()  # head -c 10 leaves
    proc.wait(60)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "gptcli: error" not in err, err
    return proc.returncode


def test_chat_and_replay_into_head_exit_0(server, gptcli, isolated: Path) -> None:
    big = "word " * 16000  # more than a pipe holds (64 KiB)
    # Streamed in 100 pieces of 800 bytes: the same reply as 16,000 one-word events, without
    # paying the SDK's per-event parsing 16,000 times per turn (the pipe is what is tested).
    server.default = Reply(pieces=[big[i : i + 800] for i in range(0, len(big), 800)])
    assert _into_head(["chat"], b"one\ntwo\n") == 0
    (path,) = conversations(isolated)
    assert _into_head(["replay", path.stem, "--format", "text"]) == 0
    assert _into_head(["replay", path.stem, "--format", "json"]) == 0


# --- #16 a batch where every item gets 429 ------------------------------------------------------------


@pytest.mark.parametrize("items", [2, 40])
def test_batch_all_429_one_rule_and_counts_that_match_the_file(server, gptcli, isolated: Path, items: int) -> None:
    src = isolated / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(items)), encoding="utf-8")
    out = isolated / "out.jsonl"
    server.default = Reply(status=429, error={"message": "quota", "type": "insufficient_quota"})
    write_profile(isolated, "t", "max_retries = 0\n")
    r = gptcli("batch", "-p", "t", str(src), "-o", str(out), "-j", "1")
    assert r.code == 5, r.stderr  # the same rule, whatever the size: the cause's exit code
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]
    records = out.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(x)["error"] is not None for x in records)
    assert f"{len(records)} records" in line or f"all {len(records)} items" in line, line


# --- #17 --debug after the subcommand --------------------------------------------------------------


def test_debug_is_accepted_after_the_subcommand(server, gptcli) -> None:
    for args in (["--debug", "ask", "hi"], ["ask", "--debug", "hi"], ["ask", "hi", "--debug"]):
        r = gptcli(*args)
        assert r.code == 0, (args, r.stderr)
    r = gptcli("ask", "--", "--debug")
    assert r.code == 0 and server.chat_requests()[-1]["messages"][-1]["content"] == "--debug"


# --- #18 redirects, UTF-16 files, a repeated status ------------------------------------------------


class _Odd(http.server.BaseHTTPRequestHandler):
    """A 302 (or a 308 to the real server) for every POST, or a 400 whose body is not JSON."""

    mode = "302"
    target = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.mode == "400":
            self.send_response(400)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"bad things")
            return
        self.send_response(int(self.mode))
        self.send_header("Location", self.target + "/chat/completions" if self.target else "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST


@contextlib.contextmanager
def _odd_server(mode: str, target: str = "") -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Odd,), {"mode": mode, "target": target}))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("status", ["301", "302", "303"])
def test_a_redirected_post_is_a_misconfigured_base_url(gptcli, status: str) -> None:
    with _odd_server(status) as url:
        r = gptcli("ask", "--base-url", url, "hi", env={"OPENAI_API_KEY": "sk-x"})
    assert r.code == 3, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]
    assert f"HTTP {status}" in line and "base_url" in line


def test_a_308_is_followed(server, gptcli) -> None:
    with _odd_server("308", target=server.url) as url:
        r = gptcli("ask", "--base-url", url, "hi")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"


def test_a_utf16_file_gets_the_hint(server, gptcli, isolated: Path) -> None:
    f = isolated / "p.txt"
    f.write_text("hello there\n", encoding="utf-16")
    r = gptcli("ask", "-f", str(f))
    assert r.code == 2 and "UTF-16" in r.stderr, r.stderr


def test_http_400_is_not_repeated(gptcli) -> None:
    with _odd_server("400") as url:
        r = gptcli("ask", "--base-url", url, "hi", env={"OPENAI_API_KEY": "sk-x"})
    assert r.code == 1
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("gptcli: error:")]
    assert line.count("400") == 1, line
