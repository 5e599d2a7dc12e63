"""Every server, every failure (issue 15): the recorded answers of other servers, replayed.

Each case runs the real CLI against the loopback server replaying what LiteLLM, llama.cpp's
server, vLLM, Ollama or OpenRouter answer (tests/fixtures/errors/, with where each came
from), and checks the exit code, the single stderr line, stdout and the log.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations, read_jsonl, write_profile
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "errors"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def replay(name: str) -> Reply:
    rec = recorded(name)
    return Reply(status=rec["status"], body=rec["body"])


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gptcli: error: ")]


def only_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gptcli: error: "), stderr
    return lines[0]


def log_of(home: Path) -> list[dict[str, Any]]:
    files = conversations(home)
    assert len(files) == 1, files
    return read_jsonl(files[0])


def error_note(records: list[dict[str, Any]]) -> dict[str, Any]:
    notes = [r for r in records if r.get("kind") == "error"]
    assert len(notes) == 1, records
    return notes[0]


# name: (exit code, words in the one line, retried?)
CASES = {
    "litellm_context_window": (8, "10,034 prompt tokens > context window 8,192", False),
    "litellm_invalid_model": (
        3,
        "unknown model 'gpt-4o-mini' (HTTP 400): /chat/completions: Invalid model name",
        False,
    ),
    "litellm_timeout_408": (6, "the server timed out (HTTP 408) after retries: litellm.Timeout", True),
    "litellm_500_validation": (1, "rejected the request as invalid (HTTP 500): 1 validation error", False),
    "litellm_auth_401": (4, "Invalid proxy server token passed", False),
    "litellm_rate_limit_429": (5, "rate limited (HTTP 429) after retries: litellm.RateLimitError", True),
    "llamacpp_context": (8, "4,476 prompt tokens > context window 4,096", False),
    "llamacpp_auth_401": (4, "refused the API key (HTTP 401): Invalid API Key", False),
    "llamacpp_loading_503": (6, "server error (HTTP 503) after retries: Loading model", True),
    "vllm_context": (8, "2,100 prompt tokens > context window 2,048", False),
    "vllm_model_404": (3, "The model `gpt-4` does not exist.", False),
    "vllm_auth_401": (4, "refused the API key (HTTP 401): Unauthorized", False),
    "ollama_model_404": (3, 'model "llama9" not found, try pulling it first', False),
    "ollama_native_404": (3, 'model "llama9" not found, try pulling it first', False),
    "openrouter_context": (8, "9,120 prompt tokens > context window 8,192", False),
    "openrouter_credits_402": (5, "out of quota or credit (HTTP 402): This request requires more credits", False),
    "openrouter_moderation_403": (1, "content filter refused the request (HTTP 403)", False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_recorded_error_bodies_map_by_meaning(server, gptcli, isolated: Path, name: str) -> None:
    code, words, retried = CASES[name]
    write_profile(isolated, "t", "max_retries = 1\n")
    server.enqueue(replay(name), times=3)
    r = gptcli("ask", "-p", "t", "hi")
    assert r.code == code, r.stderr
    line = only_line(r.stderr)
    assert words in line, line
    assert len(line) < 330 and "Traceback" not in line and "/usr/lib" not in line
    assert r.stdout == ""
    assert len(server.chat_requests()) == (2 if retried else 1)  # 4xx and validation errors: never retried
    note = error_note(log_of(isolated))
    assert note["exit_code"] == code and note["detail"]  # the whole answer is in the log
    assert [m["role"] for m in log_of(isolated) if m.get("type") == "message"] == ["user"]


def test_every_fixture_is_tested_and_says_where_it_came_from() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == set(CASES) | {"litellm_o_series_temperature"}
    for name in names:
        assert len(recorded(name)["source"]) > 40


def test_unknown_model_hints_the_models_command(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "gw", "max_retries = 0\n")
    server.enqueue(replay("litellm_invalid_model"))
    r = gptcli("ask", "-p", "gw", "hi")
    assert r.code == 3
    assert only_line(r.stderr).endswith("(list the server's models with: gptcli models -p gw)")


def test_a_validation_500_shows_no_traceback_without_v_and_all_of_it_with_v(server, gptcli, isolated: Path) -> None:
    server.enqueue(replay("litellm_500_validation"), times=2)
    r = gptcli("ask", "hi")
    assert r.code == 1
    line = only_line(r.stderr)
    assert "File " not in line and "proxy_server.py" not in line
    r = gptcli("ask", "-v", "hi")
    assert r.code == 1
    assert len(error_lines(r.stderr)) == 1
    assert "Traceback (most recent call last)" in r.stderr and "proxy_server.py" in r.stderr  # -v: the whole answer
    assert len(server.chat_requests()) == 2  # one request per run: not retried


def test_control_characters_from_the_server_never_reach_the_terminal(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(status=400, body={"error": {"message": "bad \x1b[31mred\x1b[0m\x07 \x1b]0;title\x07thing"}}))
    r = gptcli("ask", "hi")
    assert r.code == 1
    line = only_line(r.stderr)
    assert "\x1b" not in line and "\x07" not in line
    assert "bad red thing" in line


def test_a_long_message_is_cut_to_one_short_line(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(status=400, body={"error": {"message": "word " * 400 + "\nsecond line"}}))
    r = gptcli("ask", "hi")
    line = only_line(r.stderr)
    assert len(line) < 240 and line.endswith("…") and "second line" not in line


# --- 1. a reply is complete only when the server says so ---------------------------------


def test_an_empty_event_stream_is_an_error_and_retried(server, gptcli, isolated: Path) -> None:
    # llama.cpp answers an over-long prompt with a 200 and no events at all.
    write_profile(isolated, "t", "max_retries = 1\n")
    server.enqueue(Reply(events=[]), times=2)
    r = gptcli("ask", "-p", "t", "hi")
    assert r.code == 6, r.stderr
    assert only_line(r.stderr) == (
        "gptcli: error: the server ended the reply without finishing it; 0 characters received"
    )
    assert r.stdout == ""
    assert len(server.chat_requests()) == 2  # retried like a dropped connection
    records = log_of(isolated)
    assert error_note(records)["exit_code"] == 6
    assert not [m for m in records if m.get("role") == "assistant"]


def test_an_empty_stream_then_a_good_one_succeeds(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(events=["[DONE]"]))
    r = gptcli("ask", "hi")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"


def test_a_stream_ending_without_finish_is_exit_6_and_not_printed(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text="one two three", no_finish=True))
    r = gptcli("ask", "hi")
    assert r.code == 6, r.stderr
    assert only_line(r.stderr) == (
        "gptcli: error: the server ended the reply without finishing it; 13 characters received"
    )
    assert r.stdout == ""
    assert len(server.chat_requests()) == 1  # text arrived: not sent again
    assistant = [m for m in log_of(isolated) if m.get("role") == "assistant"]
    assert len(assistant) == 1 and assistant[0]["content"] == "one two three"
    assert assistant[0]["incomplete"] is True and assistant[0]["failed"] is True
    assert assistant[0]["finish_reason"] is None


def test_partial_ok_prints_what_arrived(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text="one two three", no_finish=True))
    r = gptcli("ask", "--partial-ok", "hi")
    assert r.code == 6
    assert r.stdout == "one two three\n"
    server.enqueue(Reply(text="one two three", no_finish=True))
    r = gptcli("ask", "--partial-ok", "--no-stream", "hi")
    assert r.code == 6 and r.stdout == "one two three\n"


def test_no_stream_without_finish_reason_is_exit_6(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text="one two", no_finish=True))
    r = gptcli("ask", "--no-stream", "hi")
    assert r.code == 6
    assert "without finishing it; 7 characters received" in only_line(r.stderr)
    assert r.stdout == ""


def test_a_dropped_stream_prints_nothing_without_partial_ok(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text="one two three four", drop_after=2))
    r = gptcli("ask", "hi")
    assert r.code == 6 and r.stdout == ""
    assert "the connection broke mid-reply" in only_line(r.stderr)


def test_batch_retries_an_item_whose_reply_did_not_finish(server, gptcli, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a\n", encoding="utf-8")
    server.enqueue(Reply(text="cut", no_finish=True))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "-o", str(out), "-j", "1")
    assert r.code == 0, r.stderr
    (rec,) = read_jsonl(out)
    assert rec["attempts"] == 2 and rec["error"] is None and rec["text"] == "echo: a"


def test_batch_item_that_never_finishes_fails(server, gptcli, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a\n", encoding="utf-8")
    server.enqueue(Reply(text="cut", no_finish=True), times=10)
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "-o", str(out), "-j", "1", "--retries", "1")
    # Every item failed for one systemic cause: the batch exits with that cause's code (6), as
    # README's batch rule says; the item's record says what happened.
    assert r.code == 6, r.stderr
    (rec,) = read_jsonl(out)
    assert rec["attempts"] == 2 and "without finishing it" in rec["error"]["message"]


def test_batch_never_retries_a_4xx_or_a_validation_500(server, gptcli, tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a\nb\n", encoding="utf-8")
    server.enqueue(replay("litellm_500_validation"))
    server.enqueue(replay("litellm_invalid_model"))
    out = tmp_path / "out.jsonl"
    r = gptcli("batch", str(src), "-o", str(out), "-j", "1")
    assert r.code == 10, r.stderr
    records = read_jsonl(out)
    assert [rec["attempts"] for rec in records] == [1, 1]
    assert len(server.chat_requests()) == 2


# --- 4. choices as asked ---------------------------------------------------------------------


def test_fewer_choices_than_asked_warns_once_and_prints_no_empty_block(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text="only one", choices=1))
    r = gptcli("ask", "-n", "2", "hi")
    assert r.code == 0, r.stderr
    assert [line for line in r.stderr.splitlines() if line.strip()] == ["warning: the server returned 1 of 2 choices"]
    assert r.stdout == "--- choice 1 of 1 ---\nonly one\n"
    server.enqueue(Reply(text="only one", choices=1))
    r = gptcli("ask", "-n", "2", "--json", "hi")
    assert r.code == 0
    data = r.json()
    assert data["text"] == ["only one"] and data["finish_reason"] == ["stop"]
    assert "the server returned 1 of 2 choices" in data["notes"]


def test_a_second_choice_without_finish_is_judged_on_its_own(server, gptcli, isolated: Path) -> None:
    # LiteLLM's shape: choice 1 finishes, choice 2 sends all its text and no finish_reason.
    server.enqueue(Reply(text="x y", no_finish=(1,)))
    r = gptcli("ask", "-n", "2", "hi")
    assert r.code == 0 and r.stderr == ""
    assert r.stdout == "--- choice 1 of 2 ---\nx y\n--- choice 2 of 2 ---\nx y [1]\n"  # the loopback marks choice 2
    (assistant,) = [m for m in log_of(isolated) if m.get("role") == "assistant"]
    assert "incomplete" not in assistant and assistant["finish_reasons"] == ["stop", None]
    # Not streamed, a choice without finish_reason is unfinished (no proxy sends that shape).
    server.enqueue(Reply(text="x y", no_finish=(1,)))
    r = gptcli("ask", "-n", "2", "--no-stream", "hi")
    assert r.code == 6 and "without finishing it (choice 2 of 2)" in only_line(r.stderr)


def test_a_second_choice_with_no_text_and_no_finish_fails(server, gptcli, isolated: Path) -> None:
    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": choices}

    server.enqueue(
        Reply(
            events=[
                chunk([{"index": 0, "delta": {"role": "assistant", "content": "x y"}, "finish_reason": None}]),
                chunk([{"index": 1, "delta": {"role": "assistant"}, "finish_reason": None}]),
                chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
                "[DONE]",
            ]
        )
    )
    r = gptcli("ask", "-n", "2", "hi")
    assert r.code == 6
    assert only_line(r.stderr) == (
        "gptcli: error: the server ended the reply without finishing it (choice 2 of 2); 3 characters received"
    )
    assert r.stdout == ""


# --- 3. second chance for any phrasing; reasoning / family profile keys ----------------------


def test_litellm_o_series_phrasing_gets_a_second_chance(server, gptcli, isolated: Path) -> None:
    server.enqueue(replay("litellm_o_series_temperature"))
    r = gptcli("ask", "-m", "reasoner", "-t", "0.3", "hi")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"
    first, second = server.chat_requests()
    assert first["temperature"] == 0.3 and "temperature" not in second
    assert "the server rejected 'temperature'" in r.stderr


def test_reasoning_profile_key_treats_an_alias_as_a_reasoning_model(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "r", 'model = "reasoner"\nreasoning = true\ntemperature = 0.3\npresence_penalty = 1\n')
    r = gptcli("ask", "-p", "r", "--dry-run", "hi")
    assert r.code == 0, r.stderr
    body = r.json()["body"]
    assert "temperature" not in body and "presence_penalty" not in body
    r = gptcli("profiles", "show", "r", "--json")
    data = r.json()
    assert data["settings"]["reasoning"] is True
    assert data["settings"]["family"] == "reasoning" and data["sources"]["family"] == "reasoning"


def test_family_profile_key_picks_a_row_of_the_rules(server, gptcli, isolated: Path) -> None:
    write_profile(isolated, "f", 'model = "my-alias"\nfamily = "o3 / o4-mini"\nstop = ["END"]\n')
    r = gptcli("ask", "-p", "f", "--dry-run", "hi")
    assert r.code == 0, r.stderr
    assert "stop" not in r.json()["body"]
    write_profile(isolated, "bad", 'family = "nope"\n')
    r = gptcli("ask", "-p", "bad", "--dry-run", "hi")
    assert r.code == 3 and "family" in only_line(r.stderr)


# --- 6. auth messages ------------------------------------------------------------------------


def test_no_key_set_says_which_variable_the_profile_reads(server, gptcli, isolated: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    server.require_key = "sk-real"
    write_profile(isolated, "t", 'api_key_env = "MY_PROXY_KEY"\n')
    r = gptcli("ask", "-p", "t", "hi")
    assert r.code == 4
    line = only_line(r.stderr)
    assert "Incorrect API key provided" in line  # the server's own words
    assert "no API key was set: profile 't' reads $MY_PROXY_KEY" in line


# --- 7. --max-tokens bounds output on every server ---------------------------------------------


def test_max_tokens_is_sent_as_max_tokens_to_servers_other_than_openai(server, gptcli, isolated: Path) -> None:
    server.enqueue(Reply(text="one two three four five six"))
    r = gptcli("ask", "-m", "o3-mini", "--max-tokens", "3", "hi")
    assert r.code == 0, r.stderr
    body = server.chat_requests()[0]
    assert body["max_tokens"] == 3 and "max_completion_tokens" not in body
    assert r.stdout == "one two three \n"


def test_error_table_in_the_docs_matches_the_code() -> None:
    from gptcli.backends.classify import errors_markdown

    doc = (Path(__file__).parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- errors:start -->\n(.*?)<!-- errors:end -->", doc, re.S)
    assert match and match.group(1) == errors_markdown()


# --- 8. one estimate per request -------------------------------------------------------------


def test_one_estimate_in_v_dry_run_and_json(server, gptcli, isolated: Path) -> None:
    prompt = "Count these tokens, please: alpha beta gamma"
    dry = gptcli("ask", "--dry-run", prompt).json()["estimate"]
    as_json = gptcli("ask", "--json", prompt).json()["estimate"]
    verbose = gptcli("ask", "-v", prompt)
    assert dry["prompt_tokens"] == as_json["prompt_tokens"]
    assert f"{dry['prompt_tokens']:,} prompt tokens" in verbose.stderr
    assert as_json["exact"] is True and as_json["encoding"] == "o200k_base"
    # A model with no known tokenizer: approximate, said so, and the encoding still named.
    other = gptcli("ask", "--json", "-m", "llama3.2", prompt).json()["estimate"]
    assert other["exact"] is False and other["encoding"]
    assert "~" in gptcli("ask", "-v", "-m", "llama3.2", prompt).stderr
