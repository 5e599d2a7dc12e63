"""Continuing a conversation continues it: same server, same settings, no ghosts (issue 14).

Against the loopback server: the exact request after ``ask -c`` / ``chat -c`` / ``--cid``
carries the conversation's model, sampling, system prompt and server; flags on the
continuing command override and are logged; a conversation never moves to another
server without consent (the other server sees zero requests); a failed turn stays in
the log, marked, and is left out of later requests unless retried; titles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations, read_jsonl, write_profile
from fakeserver import FakeServer, Reply
from gptcli import continuing, store

CODER = 'model = "gpt-4o"\ntemperature = 0.2\ntop_p = 0.9\nseed = 7\nsystem = "You write code."\nmax_retries = 0\n'


def texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


def settings_notes(log: Path) -> list[dict[str, Any]]:
    return [r for r in read_jsonl(log) if r.get("type") == "note" and r.get("kind") == "settings"]


@pytest.fixture
def other_server() -> Any:
    with FakeServer() as s:
        yield s


# --- settings --------------------------------------------------------------------------------


def test_ask_continue_carries_the_profile_model_sampling_and_system(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "coder", CODER)
    assert gptcli("ask", "-p", "coder", "write hello world").code == 0
    r = gptcli("ask", "-c", "now in rust")
    assert r.code == 0, r.stderr
    first, again = server.chat_requests()
    for key in ("model", "temperature", "top_p", "seed"):
        assert again[key] == first[key], key
    assert again["model"] == "gpt-4o" and again["temperature"] == 0.2
    assert texts(again) == [
        ("system", "You write code."),
        ("user", "write hello world"),
        ("assistant", "echo: write hello world"),
        ("user", "now in rust"),
    ]
    assert len(conversations(isolated)) == 1


def test_a_flag_on_the_continuing_command_overrides_is_logged_and_sticks(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "coder", CODER)
    assert gptcli("ask", "-p", "coder", "one").code == 0
    r = gptcli("ask", "-c", "-t", "1.5", "-m", "gpt-4o-mini", "two")
    assert r.code == 0, r.stderr
    assert gptcli("ask", "-c", "three").code == 0
    _, two, three = server.chat_requests()
    assert (two["temperature"], two["model"]) == (1.5, "gpt-4o-mini")
    assert (three["temperature"], three["model"], three["seed"]) == (1.5, "gpt-4o-mini", 7)  # the change sticks
    (log,) = conversations(isolated)
    (note,) = settings_notes(log)
    assert note["changes"] == {"temperature": 1.5, "model": "gpt-4o-mini"}
    # -s on the continuing command replaces the system prompt, logged as such.
    assert gptcli("ask", "-c", "-s", "Be terse.", "four").code == 0
    assert server.chat_requests()[-1]["messages"][0] == {"role": "system", "content": "Be terse."}
    assert any(r.get("kind") == "system" and r.get("system") == "Be terse." for r in read_jsonl(log))


def test_chat_resume_restores_set_model_and_system_changes(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "coder", CODER)
    lines = "/set temperature 0.9\n/model gpt-4.1\n/set max_tokens 300\n/system Answer in haiku.\nhello\n"
    assert gptcli("chat", "-p", "coder", input=lines).code == 0
    for how in (["-c"], ["--cid", conversations(isolated)[0].stem[:5]]):
        r = gptcli("chat", *how, input="again\n")
        assert r.code == 0, r.stderr
        last = server.chat_requests()[-1]
        assert last["model"] == "gpt-4.1" and last["temperature"] == 0.9 and last["seed"] == 7
        assert last.get("max_tokens", last.get("max_completion_tokens")) == 300
        assert last["messages"][0] == {"role": "system", "content": "Answer in haiku."}
    # ask continues a chat the same way.
    assert gptcli("ask", "-c", "and once more").code == 0
    assert server.chat_requests()[-1]["model"] == "gpt-4.1"


def test_structured_output_mode_is_restored(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text='{"a": 1}'), times=2)
    assert gptcli("ask", "--json-object", "give me JSON").code == 0
    r = gptcli("ask", "-c", "another")
    assert r.code == 0, r.stderr
    assert server.chat_requests()[-1]["response_format"] == {"type": "json_object"}


def test_a_profile_that_is_gone_still_continues_with_the_saved_settings(server, gptcli, isolated: Path) -> None:
    path = write_profile(isolated, "coder", CODER)
    assert gptcli("ask", "-p", "coder", "one").code == 0
    path.unlink()
    assert gptcli("ask", "-c", "two").code == 0
    last = server.chat_requests()[-1]
    assert (last["model"], last["temperature"]) == ("gpt-4o", 0.2)


# --- the server --------------------------------------------------------------------------------


def test_a_conversation_goes_back_to_its_own_server(server, other_server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "--base-url", other_server.url, "on the other server").code == 0
    assert len(other_server.chat_requests()) == 1
    # The environment still names `server`: that is no consent to move it.
    for argv in (["ask", "-c", "follow up"], ["chat", "-c"]):
        r = gptcli(*argv, input="follow up\n")
        assert r.code == 3
        (line,) = r.stderr.strip().splitlines()
        assert other_server.url in line and server.url in line and "--to-server" in line
    assert server.chat_requests() == [] and len(other_server.chat_requests()) == 1  # nothing sent anywhere


def test_a_local_conversation_is_never_sent_to_openai_without_consent(
    server, gptcli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert gptcli("ask", "--base-url", server.url, "private question").code == 0
    # Without the environment, continuing goes back to the local server (not OpenAI's).
    assert gptcli("ask", "-c", "second").code == 0
    assert gptcli("chat", "-c", input="third\n").code == 0
    assert len(server.chat_requests()) == 3
    assert texts(server.chat_requests()[-1])[0] == ("user", "private question")
    # An environment that points at OpenAI: refused, nothing sent.
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    r = gptcli("ask", "-c", "fourth")
    assert r.code == 3 and "https://api.openai.com/v1" in r.stderr and server.url in r.stderr
    assert len(server.chat_requests()) == 3


def test_consent_moves_the_conversation_and_is_logged(server, other_server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "--base-url", other_server.url, "start").code == 0
    r = gptcli("ask", "-c", "--to-server", "moved by --to-server")
    assert r.code == 0, r.stderr
    assert texts(server.chat_requests()[-1])[-1] == ("user", "moved by --to-server")
    assert "--to-server" in r.stderr  # said, not silent
    # From now on it lives there: continuing needs no flag.
    assert gptcli("ask", "-c", "stays").code == 0
    assert len(server.chat_requests()) == 2
    # An explicit --base-url on the command line is consent too.
    r = gptcli("ask", "-c", "--base-url", other_server.url, "back again")
    assert r.code == 0, r.stderr
    assert texts(other_server.chat_requests()[-1])[-1] == ("user", "back again")
    (log,) = conversations(isolated)
    moves = [n["server"] for n in settings_notes(log) if "server" in n]
    assert [m["consent"] for m in moves] == ["--to-server", "--base-url"]
    assert moves[0] == {"from": other_server.url, "to": server.url, "consent": "--to-server"}


def test_a_password_in_the_server_url_never_reaches_the_log_or_the_error(
    server, gptcli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = isolated / "gptcli" / "data" / "conversations"
    d.mkdir(parents=True)
    url = "http://me:hunter2@10.1.2.3:9/v1"
    meta = {"v": 1, "type": "meta", "id": "abcabc000001", "profile": "default", "settings": {"base_url": url}}
    (d / "abcabc000001.jsonl").write_text(
        json.dumps(meta) + "\n" + json.dumps({"v": 1, "type": "message", "role": "user", "content": "q"}) + "\n"
    )
    r = gptcli("ask", "-c", "more")
    assert r.code == 3 and "hunter2" not in r.stderr and "me:***@10.1.2.3" in r.stderr
    assert server.chat_requests() == []
    # What gptcli writes itself: redacted.
    assert gptcli("ask", "--base-url", server.url.replace("//", "//me:hunter2@"), "hi").code == 0
    (new,) = [p for p in conversations(isolated) if p.stem != "abcabc000001"]
    assert "hunter2" not in new.read_text() and "me:***@127.0.0.1" in new.read_text()


# --- failed turns ------------------------------------------------------------------------------


def test_a_failed_turn_is_history_not_context(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(status=500))
    r = gptcli("chat", input="/set max_retries 0\nfirst question\nsecond question\n")
    assert r.code == 6, r.stderr  # without a terminal: the status of the last failed turn
    _, second = server.chat_requests()
    assert texts(second) == [("user", "second question")]  # not the failed one
    (log,) = conversations(isolated)
    conv = store.load(log)
    assert [r.get("failed", False) for r in conv.records] == [True, False, False]
    assert "500" in conv.records[0]["error"] or "server" in conv.records[0]["error"]
    # replay: shown, in every format, and counted.
    out = gptcli("replay", log.stem).stdout
    assert re.search(r"\[user\] \(failed: .+; not sent in later requests\)\nfirst question", out)
    assert "2 turns, 1 failed" in out
    md = gptcli("replay", log.stem, "--format", "markdown").stdout
    assert "*failed: " in md
    js = gptcli("replay", log.stem, "--json").json()
    assert js["messages"][0]["failed"] is True and js["messages"][0]["error"]
    assert js["summary"]["failed"] == 1 and js["summary"]["turns"] == 2
    header, line = gptcli("replay").stdout.strip().splitlines()  # piped: a TSV header line, then the rows
    row = dict(zip(header.split("\t"), line.split("\t"), strict=True))
    assert row["turns"] == "2, 1 failed"


def test_resuming_a_chat_whose_turns_all_failed_sends_none_of_them(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(status=500), times=2)
    assert gptcli("chat", input="/set max_retries 0\none\ntwo\n").code == 6
    r = gptcli("chat", "-c", input="three\n")
    assert r.code == 0, r.stderr
    assert texts(server.chat_requests()[-1]) == [("user", "three")]


def test_retry_resends_the_failed_question_once(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "coder", CODER)
    server.enqueue(Reply(status=500))
    assert gptcli("ask", "-p", "coder", "will fail").code == 6
    r = gptcli("ask", "-c", "--retry")
    assert r.code == 0, r.stderr
    assert r.stdout.strip() == "echo: will fail"
    assert texts(server.chat_requests()[-1])[1:] == [("user", "will fail")]
    (log,) = conversations(isolated)
    assert [m["role"] for m in read_jsonl(log) if m.get("type") == "message"].count("user") == 1  # not written twice
    assert not any(r.get("failed") for r in store.load(log).records)  # answered now
    assert gptcli("ask", "-c", "next").code == 0
    assert texts(server.chat_requests()[-1])[1:] == [
        ("user", "will fail"),
        ("assistant", "echo: will fail"),
        ("user", "next"),
    ]
    assert gptcli("ask", "--retry").code == 2  # needs a conversation
    assert gptcli("ask", "-c", "--retry", "with a prompt").code == 2


def test_chat_retry_after_a_failure_and_undo_of_a_failed_question(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(status=500), times=2)
    r = gptcli("chat", input="/set max_retries 0\nq1\n/retry\n/undo\nq2\n/retry\nq3\n")
    assert r.code == 0, r.stderr  # the last /retry succeeded
    assert "undone: q1 (it had no reply)" in r.stderr
    reqs = server.chat_requests()
    assert texts(reqs[1]) == [("user", "q1")]  # /retry resent it: failed again (the 2nd 500)
    assert texts(reqs[2]) == [("user", "q2")]  # /undo dropped the failed q1
    assert texts(reqs[3]) == [("user", "q2")]  # /retry of a reply: regenerates it
    assert texts(reqs[4]) == [("user", "q2"), ("assistant", "echo: q2"), ("user", "q3")]
    (log,) = conversations(isolated)
    assert [m["content"] for m in store.load(log).messages] == ["q2", "echo: q2", "q3", "echo: q3"]


# --- titles ----------------------------------------------------------------------------------


def test_titles(server, gptcli, isolated: Path) -> None:
    long = "Explain " + "very " * 30 + "carefully\nsecond line"
    assert gptcli("ask", long).code == 0
    assert gptcli("ask", "--title", "My title", "short").code == 0
    assert gptcli("chat", input="hello\n/title Renamed in chat\n").code == 0
    rows = {r["title"] for r in gptcli("replay", "--json").json()}
    assert "My title" in rows and "Renamed in chat" in rows
    (auto,) = rows - {"My title", "Renamed in chat"}
    assert len(auto) == 60 and auto.startswith("Explain very") and auto.endswith("…")
    assert "Renamed in chat" in gptcli("replay").stdout


def test_saved_reads_notes_in_order(server, gptcli, isolated: Path) -> None:
    lines = "/set temperature 0.3\n/profile concise\n/set seed 4\nhi\n"
    assert gptcli("chat", input=lines).code == 0
    (log,) = conversations(isolated)
    s = continuing.saved(store.load(log))
    assert s.profile == "concise" and s.settings["seed"] == 4
    assert s.settings["temperature"] != 0.3 or "temperature" not in s.settings  # /profile replaced them


# --- the terminal: the pick list, the reprinted turns, a turn with the original settings -----


def test_terminal_resume_pick_list_reprint_and_original_settings(server, gptcli, isolated: Path) -> None:
    from test_chat import Term, assert_terminal_sane

    write_profile(isolated, "coder", CODER)
    assert gptcli("ask", "-p", "coder", "write hello world").code == 0
    server.enqueue(Reply(status=500))
    assert gptcli("ask", "-p", "coder", "--cid", conversations(isolated)[0].stem, "this one fails").code == 6
    assert gptcli("ask", "--title", "Weather talk", "is it raining?").code == 0  # the newest
    t = Term("-c")
    t.expect("Resume which conversation")
    t.expect(r"Weather talk · gpt-4o-mini · now · 1 turn")
    t.expect(r"write hello world · gpt-4o · now · 2 turns, 1 failed")
    t.send("hello")  # search: only the coder conversation is left
    t.send("\r")
    t.expect(re.escape("> write hello world"))
    t.expect("echo: write hello world")
    t.expect(re.escape("> this one fails"))
    t.expect(r"this question failed")
    t.expect("resumed")
    t.prompt()
    t.send("now in rust\r")
    t.expect("echo: now in rust")
    t.prompt()
    t.send("\x04")  # Ctrl-D leaves
    t.expect("Bye")
    assert t.finish() == 0
    assert_terminal_sane(t.output())
    last = server.chat_requests()[-1]
    assert (last["model"], last["temperature"], last["seed"]) == ("gpt-4o", 0.2, 7)
    assert texts(last) == [
        ("system", "You write code."),
        ("user", "write hello world"),
        ("assistant", "echo: write hello world"),
        ("user", "now in rust"),  # not the failed question
    ]


def test_terminal_pick_list_esc_leaves_without_resuming(server, gptcli, isolated: Path) -> None:
    from test_chat import Term

    assert gptcli("ask", "hello").code == 0
    t = Term("--resume")
    t.expect("Resume which conversation")
    t.send("\x1b")
    assert t.finish() == 0
    assert len(server.chat_requests()) == 1
