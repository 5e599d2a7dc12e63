"""A signal ignored when gptcli started stays ignored (issue 15, the compatibility matrix's SIGINT report).

``nohup gptcli batch ...`` ignores SIGHUP so that the job outlives the terminal; a shell
without job control starts ``gptcli ask ... &`` with SIGINT ignored (Python then installs
no KeyboardInterrupt handler). gptcli's own handlers (SIGHUP and SIGTERM as Ctrl-C, batch's
cancel) must not take such a signal back. Real processes: signals need them.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import helpers
from conftest import read_jsonl
from fakeserver import Reply, markdown_tokens


def ignoring(*sigs: int) -> Callable[[], None]:
    def preexec() -> None:
        for sig in sigs:
            signal.signal(sig, signal.SIG_IGN)

    return preexec


def wait_streaming(server: Any, seconds: float = 0.6) -> None:
    deadline = time.monotonic() + 30
    while not server.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(seconds)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
def test_ask_keeps_ignoring_a_signal_ignored_at_start(server, isolated: Path, sig: int) -> None:
    server.enqueue(Reply(tokens=200, chunk_delay=0.01))
    proc = helpers.spawn("ask", "hi", preexec_fn=ignoring(sig))
    try:
        wait_streaming(server)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.decode() == "".join(markdown_tokens(200)).rstrip("\n") + "\n"  # the whole reply
    assert err == b""


def test_ask_still_takes_sighup_when_it_was_not_ignored(server, isolated: Path) -> None:
    server.enqueue(Reply(tokens=200, chunk_delay=0.01))
    proc = helpers.spawn("ask", "hi")
    wait_streaming(server)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err


def test_batch_under_nohup_survives_a_closed_terminal(server, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("".join(f"prompt {i}\n" for i in range(12)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.default = Reply(delay=0.1)
    proc = helpers.spawn(
        "batch", str(src), "-o", str(out), "-j", "2", stdin=subprocess.DEVNULL, preexec_fn=ignoring(signal.SIGHUP)
    )
    try:
        wait_streaming(server, 0.2)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(read_jsonl(out)) == 12
    assert b"interrupted" not in err


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
def test_chat_keeps_ignoring_a_signal_ignored_at_start(server, isolated: Path, sig: int) -> None:
    server.enqueue(Reply(tokens=200, chunk_delay=0.01))
    proc = helpers.spawn("chat", stdin=subprocess.PIPE, preexec_fn=ignoring(sig))
    assert proc.stdin is not None
    try:
        proc.stdin.write(b"tell me a long story\n")
        proc.stdin.flush()
        wait_streaming(server)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)  # stdin closes: the chat ends after the reply
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "".join(markdown_tokens(200)).strip() in out.decode()
    assert b"interrupted" not in err
