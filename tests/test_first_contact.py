"""The rough edges a new user hits first (issue 23): profiles, piped tables, error hints, retries."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from conftest import write_profile
from fakeserver import Reply
from gptcli.backends import hints, retry_notice


def test_one_broken_profile_does_not_break_the_listing(gptcli, isolated: Path) -> None:
    write_profile(isolated, "mine", 'model = "m1"\ndescription = "my own"\n')
    write_profile(isolated, "typo", 'model = "x"\ntemprature = 1\n')
    write_profile(isolated, "loop", 'extends = "loop"\n')
    r = gptcli("profiles", "list")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "name\tmodel\tsource\tdescription"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["mine"] == ["mine", "m1", "user", "my own"]
    assert rows["typo"][1] == "-" and rows["typo"][3].startswith("error: ")
    assert "unknown key 'temprature' (did you mean 'temperature'?)" in rows["typo"][3]
    assert "no built-in profile of that name" in rows["loop"][3]
    assert {"coder", "default", "local"} <= set(rows)  # the built-ins are all there
    assert r.stderr.count("\n") == 1 and "2 broken profile(s): loop, typo" in r.stderr

    data = gptcli("profiles", "list", "--json")
    assert data.code == 0
    by_name = {p["name"]: p for p in data.json()}
    assert by_name["typo"]["error"] and by_name["typo"]["model"] is None
    assert by_name["mine"]["error"] is None and by_name["mine"]["model"] == "m1"

    shown = gptcli("profiles", "show", "typo")
    assert shown.code == 3 and "temprature" in shown.stderr and shown.stdout == ""
    assert gptcli("profiles", "show", "mine").code == 0


def test_profiles_alone_lists_them(gptcli) -> None:
    alone, listed = gptcli("profiles"), gptcli("profiles", "list")
    assert alone.code == 0, alone.stderr
    assert alone.stdout == listed.stdout and "default\t" in alone.stdout


def test_piped_tables_have_a_header_and_dashes_for_empty_cells(server, gptcli, isolated: Path) -> None:
    server.known_models = ["gpt-4o-mini", "no-price-model"]
    models = gptcli("models").stdout.splitlines()
    assert models[0] == "model\tcontext\tinput $/1M\toutput $/1M\towned by"
    unknown = next(line for line in models if line.startswith("no-price-model\t")).split("\t")
    assert unknown[1:4] == ["-", "-", "-"]  # nothing empty: every column is there for cut/awk

    a, b = isolated / "a.txt", isolated / "b.txt"
    a.write_text("one two\n", encoding="utf-8")
    b.write_text("three\n", encoding="utf-8")
    count = gptcli("count", "-f", str(a), "-f", str(b)).stdout.splitlines()
    assert count[0] == "source\ttokens\tcharacters\tinput cost\tcontext"
    assert [line.split("\t")[0] for line in count[1:]] == [str(a), str(b), "total"]
    single = gptcli("count", "-f", str(a)).stdout.splitlines()
    assert single[0] == "field\tvalue" and single[1].startswith("tokens\t")

    show = gptcli("profiles", "show", "default").stdout.splitlines()
    assert show[0] == "key\tvalue\tfrom"
    assert all(len(line.split("\t")) == 3 for line in show)

    assert gptcli("ask", "hello").code == 0
    replay = gptcli("replay").stdout.splitlines()
    assert replay[0].startswith("id\tdate\tprofile\tmodel\tturns\tcost\t")
    assert len(replay) == 2 and len(replay[1].split("\t")) == len(replay[0].split("\t"))
    assert json.loads(gptcli("replay", "--json").stdout)[0]["first_prompt"] == "hello"  # JSON unchanged


def test_a_tab_or_newline_in_a_cell_stays_in_its_row(gptcli, isolated: Path) -> None:
    write_profile(isolated, "odd", 'model = "m"\ndescription = "a\\tb\\nc"\n')
    lines = gptcli("profiles", "list").stdout.splitlines()
    row = next(line for line in lines if line.startswith("odd\t")).split("\t")
    assert row == ["odd", "m", "user", "a b c"]


# --- errors that say what to do (item 4) -------------------------------------------------------


def refused_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there any more
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("url", "cause", "expected"),
    [
        ("http://localhost:11434/v1", ConnectionRefusedError(111, "Connection refused"), "ollama serve"),
        ("http://127.0.0.1:11434/v1", OSError("[Errno 111] Connection refused"), "is Ollama running?"),
        ("http://127.0.0.1:8000/v1", ConnectionRefusedError(111, "refused"), "is a server running on port 8000?"),
        ("https://llm.example.com/v1", ConnectionRefusedError(111, "refused"), "llm.example.com:443 up?"),
        (
            "https://api.opnai.com/v1",
            socket.gaierror(-2, "Name or service not known"),
            "'api.opnai.com' does not resolve",
        ),
        ("https://x.example/v1", OSError("[Errno 8] nodename nor servname provided, or not known"), "check base_url"),
    ],
)
def test_connection_hints(url: str, cause: BaseException, expected: str) -> None:
    hint = hints.connection_hint(url, chained(RuntimeError("ConnectError"), cause))
    assert hint is not None and expected in hint


def test_no_hint_for_other_failures() -> None:
    assert hints.connection_hint("http://localhost:11434/v1", OSError("certificate verify failed")) is None


def test_refused_connection_end_to_end_says_what_to_do(gptcli, isolated: Path) -> None:
    port = refused_port()
    write_profile(isolated, "down", f'base_url = "http://127.0.0.1:{port}/v1"\nmax_retries = 0\n')
    r = gptcli("ask", "-p", "down", "hi")
    assert r.code == 6 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"gptcli: error: cannot reach http://127.0.0.1:{port}/v1")
    assert line.endswith(f"(is a server running on port {port}? If so, check base_url with: gptcli profiles show)")


def test_retries_are_said_as_they_happen(server, gptcli) -> None:
    server.enqueue(Reply(status=503, headers={"retry-after-ms": "10"}))
    r = gptcli("ask", "-v", "hi")
    assert r.code == 0, r.stderr
    assert "request failed, retrying in 0.01 s, 1 of 2" in r.stderr
    assert len(server.chat_requests()) == 2
    assert r.stdout == "echo: hi\n"

    server.enqueue(Reply(status=503, headers={"retry-after-ms": "10"}))
    quiet = gptcli("ask", "hi")  # not a terminal and no -v: status stays off, the retry too
    assert quiet.code == 0 and quiet.stderr == ""
    assert not logging.getLogger(retry_notice.LOGGER).handlers  # the listener is gone after the call
