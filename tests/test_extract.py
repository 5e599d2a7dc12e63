"""Code extraction: the pure module, and -x on ask, /x in chat, the batch ``extract`` field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeserver import Reply
from gptcli.extract import Block, blocks, extract

REPLY = "Here you go:\n\n```bash\ndedup() { awk '!seen[$0]++'; }\n```\n\nThen:\n~~~python\nprint(1)\n~~~\n"


def test_first_block_with_language_tag() -> None:
    assert blocks(REPLY) == [Block("dedup() { awk '!seen[$0]++'; }", "bash"), Block("print(1)", "python")]
    got = extract(REPLY)
    assert got.text == "dedup() { awk '!seen[$0]++'; }" and got.blocks == 1 and got.warning is None


def test_all_blocks_joined_by_a_blank_line() -> None:
    got = extract(REPLY, "all")
    assert got.text == "dedup() { awk '!seen[$0]++'; }\n\nprint(1)" and got.blocks == 2


def test_no_block_is_the_whole_reply_with_a_warning() -> None:
    got = extract("just words, `inline` code")
    assert got.text == "just words, `inline` code" and got.blocks == 0 and got.warning


def test_longer_fence_holds_a_shorter_one_and_tildes_hold_backticks() -> None:
    nested = "````markdown\n```py\nx = 1\n```\n````\n"
    assert extract(nested).text == "```py\nx = 1\n```"
    tilde = "~~~\n```\nnot a fence here\n~~~"
    assert extract(tilde).text == "```\nnot a fence here"
    # a closing fence must be at least as long as the opening one, and bare
    assert extract("````\na\n```\nb\n````").text == "a\n```\nb"
    assert extract("```\na\n``` trailing\nb\n```").text == "a\n``` trailing\nb"


def test_unclosed_fence_runs_to_the_end_with_a_warning() -> None:
    got = extract("text\n```sh\nls -la\nwc -l")
    assert got.text == "ls -la\nwc -l" and got.warning and "not closed" in got.warning


def test_indented_fence_in_a_list_item_is_dedented() -> None:
    got = extract("1. Run:\n   ```\n   make\n     indented\n   ```\n")
    assert got.text == "make\n  indented"


def test_inline_triple_backticks_are_not_a_fence() -> None:
    assert extract("```a``` then\n```\ncode\n```").text == "code"


def test_empty_block_and_crlf() -> None:
    assert extract("```\n```").text == ""
    assert extract("```js\r\nlet a\r\n```\r\n").text == "let a"


# --- the commands --------------------------------------------------------------------------------


def test_ask_x_prints_only_the_code_block(server, gptcli) -> None:
    server.enqueue(Reply(text=REPLY))
    r = gptcli("ask", "-x", "Write a bash function that dedups lines")
    assert r.code == 0, r.stderr
    assert r.stdout == "dedup() { awk '!seen[$0]++'; }\n"
    assert r.stderr == ""


def test_ask_extract_all_and_json(server, gptcli) -> None:
    server.enqueue(Reply(text=REPLY))
    r = gptcli("ask", "--extract-all", "q")
    assert r.stdout == "dedup() { awk '!seen[$0]++'; }\n\nprint(1)\n"
    server.enqueue(Reply(text=REPLY))
    out = gptcli("ask", "-x", "--json", "q").json()
    assert out["text"] == REPLY and out["extract"] == "dedup() { awk '!seen[$0]++'; }"


def test_ask_x_without_a_block_prints_the_whole_reply_and_warns(server, gptcli) -> None:
    r = gptcli("ask", "-x", "no code here")
    assert r.code == 0
    assert r.stdout == "echo: no code here\n"
    assert r.stderr.startswith("warning: the reply has no fenced code block")


def test_ask_x_with_schema_is_a_usage_error(server, gptcli, tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object"}', encoding="utf-8")
    r = gptcli("ask", "-x", "--schema", str(schema), "q")
    assert r.code == 2 and "--schema" in r.stderr
    assert gptcli("ask", "-x", "--json-object", "q").code == 2
    assert server.chat_requests() == []


def test_chat_slash_x(server, gptcli) -> None:
    server.enqueue(Reply(text=REPLY))
    r = gptcli("chat", input="/x\nwrite it\n/x\n/x all\n/x some\n")
    assert r.code == 0, r.stderr
    assert "no reply yet" in r.stderr
    assert "\ndedup() { awk '!seen[$0]++'; }\n" in r.stderr
    assert "dedup() { awk '!seen[$0]++'; }\n\nprint(1)\n" in r.stderr
    assert "usage: /x [all]" in r.stderr
    assert len(server.chat_requests()) == 1


def test_batch_extract_field(server, gptcli, tmp_path: Path) -> None:
    src = tmp_path / "p.jsonl"
    lines = [{"id": "a", "prompt": "x\n```sh\ncode one\n```"}, {"id": "b", "prompt": "plain"}]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    r = gptcli("batch", str(src), "-x", "--ordered")
    assert r.code == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(rec["id"], rec["extract"]) for rec in recs] == [("a", "code one"), ("b", "echo: plain")]
    assert r.stderr.count("no code block") == 1  # said once per run, not per item


@pytest.mark.parametrize("flag", ["-x", "--extract-all"])
def test_batch_extract_field_from_code(server, gptcli, tmp_path: Path, flag: str) -> None:
    server.enqueue(Reply(text=REPLY))
    src = tmp_path / "p.txt"
    src.write_text("one\n", encoding="utf-8")
    rec = json.loads(gptcli("batch", str(src), flag).stdout)
    assert rec["extract"] == (extract(REPLY, "all" if flag != "-x" else "first").text)
    assert rec["text"] == REPLY
