"""`gptcli ask` end to end: the real command against the loopback server."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conftest import SECRET_KEY, conversations, read_jsonl
from fakeserver import Reply


def test_piped_answer_is_exactly_the_text(server, gptcli, isolated: Path) -> None:
    r = gptcli("ask", "Hello there")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: Hello there\n"
    assert "\x1b" not in r.stdout
    (body,) = server.chat_requests()
    assert body["messages"][-1] == {"role": "user", "content": "Hello there"}
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert r.stderr == ""  # status only on a terminal or with -v


def test_chinese_prompt_round_trips(server, gptcli) -> None:
    r = gptcli("ask", "请解释一下什么是神经网络?")
    assert r.code == 0
    assert r.stdout == "echo: 请解释一下什么是神经网络?\n"


def test_argument_then_blank_line_then_stdin_verbatim(server, gptcli) -> None:
    stdin = "  indented line\n\n\n\ttab\n   trailing   \n"
    r = gptcli("ask", "Review this", input=stdin)
    assert r.code == 0, r.stderr
    assert server.chat_requests()[0]["messages"][-1]["content"] == "Review this\n\n" + stdin


def test_stdin_alone_is_the_prompt(server, gptcli) -> None:
    r = gptcli("ask", input="diff --git a b\n")
    assert r.code == 0
    assert server.chat_requests()[0]["messages"][-1]["content"] == "diff --git a b\n"


def test_files_are_added(server, gptcli, tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("file text ✓", encoding="utf-8")
    r = gptcli("ask", "Summarise", "-f", str(f))
    assert r.code == 0, r.stderr
    assert server.chat_requests()[0]["messages"][-1]["content"] == "Summarise\n\nfile text ✓"


@pytest.mark.parametrize("stdin", ["", "   \n"])
def test_no_prompt_is_a_usage_error(server, gptcli, stdin: str) -> None:
    r = gptcli("ask", input=stdin)
    assert r.code == 2
    assert "no prompt" in r.stderr
    assert server.chat_requests() == []


def test_flags_reach_the_request(server, gptcli) -> None:
    r = gptcli(
        "ask",
        "-p",
        "coder",
        "-m",
        "gpt-4o-mini",
        "-t",
        "0.2",
        "--max-tokens",
        "300",
        "--stop",
        "END",
        "--seed",
        "7",
        "--param",
        "top_k=40",
        "--param",
        'tag="x"',
        "Explain ^a+$",
    )
    assert r.code == 0, r.stderr
    body = server.chat_requests()[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 300  # not OpenAI's host: max_tokens
    assert body["stop"] == ["END"]
    assert body["seed"] == 7
    assert body["top_k"] == 40 and body["tag"] == "x"
    assert body["messages"][0]["role"] == "system"


def test_no_stream(server, gptcli) -> None:
    r = gptcli("ask", "--no-stream", "hi")
    assert r.code == 0
    assert r.stdout == "echo: hi\n"
    body = server.chat_requests()[0]
    assert "stream" not in body and "stream_options" not in body


def test_json_output_keys(server, gptcli) -> None:
    r = gptcli("ask", "--json", "Name three rivers")
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["text"] == "echo: Name three rivers"
    assert data["model"] == "gpt-4o-mini"
    assert data["profile"] == "default"
    assert data["finish_reason"] == "stop"
    assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] > 0
    assert set(data["estimate"]) >= {"prompt_tokens", "cost_min", "cost_max"}
    # An unknown URL (the loopback server): priced by the model's name, and said so (issue 16).
    assert data["cost"] > 0 and "price assumed: OpenAI gpt-4o-mini" in data["notes"]
    assert len(data["conversation_id"]) == 12
    assert data["latency"] >= 0
    assert SECRET_KEY not in r.stdout


def test_cost_from_the_profile_price(server, gptcli, isolated: Path) -> None:
    d = isolated / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True)
    (d / "priced.toml").write_text("[price]\ninput = 1.0\noutput = 2.0\n", encoding="utf-8")
    data = gptcli("ask", "-p", "priced", "--json", "hello world").json()
    u = data["usage"]
    assert data["cost"] == pytest.approx((u["prompt_tokens"] * 1.0 + u["completion_tokens"] * 2.0) / 1e6)
    assert data["estimate"]["cost_min"] == pytest.approx(data["estimate"]["prompt_tokens"] / 1e6)


def test_n_choices_are_all_printed(server, gptcli) -> None:
    r = gptcli("ask", "-n", "2", "pick")
    assert r.code == 0, r.stderr
    assert "--- choice 1 of 2 ---\necho: pick\n" in r.stdout
    assert "--- choice 2 of 2 ---\necho: pick [1]\n" in r.stdout
    data = gptcli("ask", "-n", "2", "--json", "pick").json()
    assert data["text"] == ["echo: pick", "echo: pick [1]"]


def test_verbose_status_goes_to_stderr(server, gptcli) -> None:
    r = gptcli("ask", "-v", "hi")
    assert r.code == 0
    assert r.stdout == "echo: hi\n"
    assert "prompt tokens" in r.stderr and " in / " in r.stderr


def test_conversation_log(server, gptcli, isolated: Path) -> None:
    r = gptcli("ask", "-s", "Be brief.", "first question")
    assert r.code == 0
    (path,) = conversations(isolated)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    meta, system, user, assistant = read_jsonl(path)
    assert meta["type"] == "meta" and meta["v"] == 1 and meta["profile"] == "default"
    assert meta["settings"]["model"] == "gpt-4o-mini" and "api_key_cmd" not in meta["settings"]
    assert (system["role"], system["content"]) == ("system", "Be brief.")
    assert (user["role"], user["content"]) == ("user", "first question")
    assert assistant["role"] == "assistant" and assistant["content"] == "echo: first question"
    for key in ("model", "finish_reason", "usage", "estimated_prompt_tokens", "cost", "latency", "time"):
        assert key in assistant
    assert SECRET_KEY not in path.read_text()


def test_continue_sends_the_whole_history(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "one").code == 0
    r = gptcli("ask", "-c", "two")
    assert r.code == 0, r.stderr
    second = server.chat_requests()[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == "echo: one"  # the model sees its own reply
    (path,) = conversations(isolated)
    cid = path.stem
    r = gptcli("ask", "--cid", cid[:6], "three")
    assert r.code == 0, r.stderr
    assert len(server.chat_requests()[2]["messages"]) == 5
    assert len(conversations(isolated)) == 1


def test_no_log_keeps_nothing(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "--no-log", "secret stuff").code == 0
    assert conversations(isolated) == []


def test_dry_run_sends_nothing_and_needs_no_key(server, gptcli, monkeypatch) -> None:
    r = gptcli("ask", "--dry-run", "-m", "o3", "-t", "0.5", "Hello", env={"OPENAI_API_KEY": ""})
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["body"]["model"] == "o3"
    assert "temperature" not in data["body"]
    assert data["estimate"]["prompt_tokens"] == 8
    assert data["estimate"]["exact"] is True
    assert any("temperature" in n for n in data["notes"])
    assert server.requests == []


def test_missing_key_names_the_variable(gptcli) -> None:
    r = gptcli("ask", "hi")  # default profile, OpenAI's own server, no key
    assert r.code == 4
    assert "OPENAI_API_KEY" in r.stderr and "local" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("reply", "code", "needle"),
    [
        (Reply(status=401), 4, "API key"),
        (Reply(status=429, headers={"Retry-After": "0"}), 5, "rate limited"),
        (Reply(status=500), 6, "server error"),
        (
            Reply(
                status=404,
                error={
                    "message": "The model `x` does not exist",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "model_not_found",
                },
            ),
            3,
            "gptcli models",
        ),
        (
            Reply(
                status=400,
                error={
                    "message": "too long",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                },
            ),
            8,
            "too long",
        ),
    ],
)
def test_server_errors_map_to_exit_codes(server, gptcli, reply: Reply, code: int, needle: str) -> None:
    server.enqueue(reply, times=10)
    r = gptcli("ask", "--no-stream", "hi")
    assert r.code == code, r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and SECRET_KEY not in r.stderr


def test_dry_run_shows_profile_headers_with_credentials_redacted(gptcli, isolated: Path) -> None:
    d = isolated / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True)
    (d / "hdr.toml").write_text(
        '[headers]\n"HTTP-Referer" = "https://example.org"\n"X-Api-Key" = "very-secret-value"\n', encoding="utf-8"
    )
    r = gptcli("ask", "-p", "hdr", "--dry-run", "hi")
    assert r.code == 0, r.stderr
    headers = r.json()["headers"]
    assert headers["HTTP-Referer"] == "https://example.org"
    assert headers["X-Api-Key"] == "[redacted]" and headers["Authorization"] == "Bearer [redacted]"
    assert "very-secret-value" not in r.stdout
