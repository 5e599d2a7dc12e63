"""`gptcli cmd`: one shell command; on a terminal it runs only on Enter, without one it only prints."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from conftest import SRC, conversations, read_jsonl
from fakeserver import Reply
from gptcli import shellcmd
from gptcli.errors import InvalidOutputError
from helpers import expect_on_pty


def reply_with(command: str) -> Reply:
    return Reply(text=f"```bash\n{command}\n```")


class Term:
    """``gptcli cmd`` on a pseudo-terminal (answering prompt_toolkit's cursor position requests)."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("PYTHONSAFEPATH", None)
        env.update(TERM="xterm", COLUMNS="100", LINES="30", SHELL="/bin/sh")
        self.child = pexpect.spawn(
            sys.executable, ["-m", "gptcli", "cmd", *args], env=env, cwd=str(cwd), dimensions=(30, 100),
            encoding="utf-8", timeout=30,
        )  # fmt: skip
        self.seen: list[str] = []

    def expect(self, pattern: str) -> None:
        expect_on_pty(self.child, self.seen, pattern, "gptcli")

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.seen.append(self.child.before)
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)


KEYS = re.escape("[Enter] run")


def last_cmd_note(isolated: Path) -> dict:
    (log,) = conversations(isolated)
    return [r for r in read_jsonl(log) if r.get("kind") == "cmd"][-1]


def test_terminal_waits_for_the_keypress_and_runs_only_on_enter(server, isolated: Path, tmp_path: Path) -> None:
    server.enqueue(reply_with("echo ran > marker.txt; exit 3"))
    t = Term(tmp_path, "write a marker")
    t.expect(KEYS)
    t.expect(" ")  # settled at the keys line
    t.child.send("z")  # not a key it knows: shows the keys again, runs nothing
    t.expect(KEYS)
    assert not (tmp_path / "marker.txt").exists()
    t.child.send("\r")
    assert t.finish() == 3  # the command's own status
    assert (tmp_path / "marker.txt").read_text() == "ran\n"
    assert "echo ran > marker.txt; exit 3" in "".join(t.seen)
    note = last_cmd_note(isolated)
    assert note["ran"] is True and note["exit_code"] == 3 and note["command"] == "echo ran > marker.txt; exit 3"
    body = server.chat_requests()[0]
    prompt = body["messages"][-1]["content"]
    assert "Shell: sh" in prompt and f"Working directory: {tmp_path}" in prompt and "Task: write a marker" in prompt
    assert body["messages"][0]["role"] == "system" and "one shell command" in body["messages"][0]["content"]


@pytest.mark.parametrize("key", ["\x1b", "\x03", "q"])
def test_esc_ctrl_c_and_q_abort(server, isolated: Path, tmp_path: Path, key: str) -> None:
    server.enqueue(reply_with("touch marker.txt"))
    t = Term(tmp_path, "make a file")
    t.expect(KEYS)
    t.child.send(key)
    assert t.finish() == 130
    assert not (tmp_path / "marker.txt").exists()
    assert "aborted: the command was not run" in "".join(t.seen)
    note = last_cmd_note(isolated)
    assert note["ran"] is False and note["exit_code"] is None


def test_edit_then_run(server, isolated: Path, tmp_path: Path) -> None:
    server.enqueue(reply_with("touch a.txt"))
    t = Term(tmp_path, "make a file")
    t.expect(KEYS)
    t.child.send("e")
    t.expect(re.escape("touch a.txt"))
    t.child.send("\x08\x08\x08\x08\x08b.txt\r")  # backspace over "a.txt", type "b.txt"
    t.expect(KEYS)
    assert not (tmp_path / "b.txt").exists()
    t.child.send("\r")
    assert t.finish() == 0
    assert (tmp_path / "b.txt").exists() and not (tmp_path / "a.txt").exists()
    note = last_cmd_note(isolated)
    assert note["command"] == "touch b.txt" and note["edited"] is True


def test_describe_asks_the_model_and_comes_back(server, tmp_path: Path) -> None:
    server.enqueue(reply_with("rm -rf build"))
    server.enqueue(Reply(text="Deletes the build directory.\x1b]0;pwned\x07"))
    t = Term(tmp_path, "clean up")
    t.expect(KEYS)
    t.child.send("d")
    t.expect(re.escape("Deletes the build directory."))
    t.expect(KEYS)
    t.child.send("\x1b")
    assert t.finish() == 130
    out = "".join(t.seen)
    assert "\x1b]0;pwned" not in out and "\\x1b]0;pwned\\x07" in out  # shown, not obeyed
    describe = server.chat_requests()[1]["messages"]
    assert describe[0]["content"] == shellcmd.DESCRIBE_SYSTEM and "rm -rf build" in describe[-1]["content"]


def test_without_a_terminal_it_only_prints(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    server.enqueue(reply_with(f"touch {tmp_path}/marker.txt"))
    r = gptcli("cmd", "make a file", input="")
    assert r.code == 0, r.stderr
    assert r.stdout == f"touch {tmp_path}/marker.txt\n"
    assert not (tmp_path / "marker.txt").exists()
    note = last_cmd_note(isolated)
    assert note["ran"] is False and note["text"] == "printed"


def test_print_flag_and_stdin_and_var(server, gptcli) -> None:
    server.enqueue(Reply(text="`ls -la`"))
    r = gptcli("cmd", "--print", "--var", "shell=fish", "list", input="these files")
    assert r.code == 0
    assert r.stdout == "ls -la\n"
    assert "no code block" in r.stderr
    prompt = server.chat_requests()[0]["messages"][-1]["content"]
    assert "Shell: fish" in prompt and "Task: list\n\nthese files" in prompt


def test_empty_answer_is_exit_9(server, gptcli) -> None:
    server.enqueue(Reply(text="```\n\n```"))
    r = gptcli("cmd", "nothing")
    assert r.code == 9 and "no command" in r.stderr


def test_command_from_checks_the_reply() -> None:
    assert shellcmd.command_from("```sh\nls\n```").command == "ls"
    two = shellcmd.command_from("```sh\nls\n```\nor\n```sh\ndir\n```")
    assert two.command == "ls" and "2 code blocks" in two.warnings[0]
    lines = shellcmd.command_from("```\nfind . \\\n  -size +100M\n```")
    assert lines.warnings == ()
    assert "2 lines" in shellcmd.command_from("```\ncd /tmp\nls\n```").warnings[0]
    with pytest.raises(InvalidOutputError):
        shellcmd.command_from("   ")


def test_decide_never_runs_without_the_run_key() -> None:
    class Fake:
        def __init__(self, keys: list[str]) -> None:
            self.keys = keys
            self.shown: list[str] = []

        def show(self, command: str) -> None:
            self.shown.append(command)

        def key(self) -> str:
            return self.keys.pop(0)

        def edit(self, command: str) -> str:
            return command + " -v"

        def description(self, text: str) -> None:
            self.shown.append(text)

    assert shellcmd.decide("ls", Fake(["describe", "edit", "run"]), lambda c: f"about {c}") == "ls -v"
    assert shellcmd.decide("ls", Fake(["edit", "abort"]), str) is None
