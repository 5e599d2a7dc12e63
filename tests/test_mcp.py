"""MCP servers end to end (issue 20): the tests' own servers, written with the ``mcp`` SDK
(tests/mcp_servers: stdio and streamable HTTP), listed and called through ``McpToolbox``
and ``gptcli tools list``. Each server start costs an interpreter importing the SDK, so a
module-wide toolbox serves the calls that leave its servers running."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import write_profile
from gptcli.errors import AuthError, ConfigError, ToolServerError
from gptcli.tools.config import ServerConfig
from gptcli.tools.mcp import McpToolbox
from mcp_servers import STDIO_SERVER, TOKEN, http_server, http_toml, stdio_toml

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def notes(name: str = "notes", *args: str, **kw: Any) -> ServerConfig:
    return ServerConfig(name, command=sys.executable, args=(str(STDIO_SERVER), *args), **kw)


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server(log=tmp_path_factory.mktemp("http") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def box(http_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpToolbox]:
    """notes (stdio) and words (HTTP, behind a bearer token), started once for the module."""
    configs = [
        notes(env={"GREETING": "hello from the profile"}),
        ServerConfig("words", url=http_url, headers={"Authorization": f"Bearer {TOKEN}"}),
    ]
    with McpToolbox(configs, max_result_chars=1000, log_dir=tmp_path_factory.mktemp("logs")) as b:
        b.start()
        yield b


def spec(box: McpToolbox, qualified: str) -> Any:
    (found,) = [s for s in box.specs() if s.qualified == qualified]
    return found


def test_both_servers_list_their_tools(box: McpToolbox) -> None:
    assert box.errors == {}
    names = [s.qualified for s in box.specs()]
    assert names[:3] == ["notes.add", "notes.read_note", "notes.slow"]
    assert names[-2:] == ["words.echo", "words.upper"]
    add = spec(box, "notes.add")
    assert add.description == "Add two whole numbers."
    assert add.input_schema["properties"].keys() == {"a", "b"} and add.input_schema["required"] == ["a", "b"]
    assert add.wire_name == "notes__add"


def test_calls_over_stdio_and_http(box: McpToolbox) -> None:
    r = box.call(spec(box, "notes.add"), {"a": 2, "b": 40}, timeout=30)
    assert (r.text, r.is_error, r.truncated) == ("42", False, False) and r.duration > 0
    assert box.call(spec(box, "notes.env"), {"name": "GREETING"}, timeout=30).text == "hello from the profile"
    assert box.call(spec(box, "notes.env"), {"name": "OPENAI_API_KEY"}, timeout=30).text == "(unset)"
    assert box.call(spec(box, "words.echo"), {"text": "über"}, timeout=30).text == "über"
    # A tool's own failure is the model's to read: an error result, and the server goes on.
    bad = box.call(spec(box, "notes.read_note"), {"name": "nothing"}, timeout=30)
    assert bad.is_error and "no note named 'nothing'" in bad.text
    invalid = box.call(spec(box, "notes.add"), {"a": 1, "b": "x"}, timeout=30)
    assert invalid.is_error
    picture = box.call(spec(box, "notes.picture"), {}, timeout=30)
    assert picture.text == "a red dot\n[image content: image/png, about 30 bytes, not shown]"


def test_a_server_breaking_the_protocol_prints_nothing(box: McpToolbox, capfd: pytest.CaptureFixture[str]) -> None:
    assert box.call(spec(box, "notes.noise"), {}, timeout=30).text == "noisy"
    assert box.call(spec(box, "notes.add"), {"a": 1, "b": 1}, timeout=30).text == "2"
    assert capfd.readouterr() == ("", "")


def test_a_call_that_hangs_times_out_and_the_server_goes_on(box: McpToolbox) -> None:
    t0 = time.monotonic()
    r = box.call(spec(box, "notes.slow"), {"seconds": 20}, timeout=1)
    assert r.is_error and time.monotonic() - t0 < 15
    assert r.text.startswith("error: MCP server 'notes': notes.slow did not answer in 1 s")
    assert "\n" not in r.text
    assert box.call(spec(box, "notes.add"), {"a": 1, "b": 1}, timeout=30).text == "2"


def test_a_huge_result_is_cut_and_says_so(box: McpToolbox) -> None:
    r = box.call(spec(box, "notes.big"), {"n": 250_000}, timeout=30)
    assert r.truncated and not r.is_error
    head, note = r.text.rsplit("\n", 1)
    assert head == "x" * 1000
    assert note == "[gptcli: result truncated: 250,000 characters, the first 1,000 shown]"
    small = box.call(spec(box, "notes.big"), {"n": 1000}, timeout=30)
    assert not small.truncated and small.text == "x" * 1000


def test_the_server_timeout_wins_over_the_callers(box: McpToolbox) -> None:
    saved = box.configs["notes"]
    box.configs["notes"] = notes(timeout=1)  # as if the profile said timeout = 1
    try:
        r = box.call(spec(box, "notes.slow"), {"seconds": 20}, timeout=600)
    finally:
        box.configs["notes"] = saved
    assert r.is_error and "did not answer in 1 s" in r.text


def test_a_crash_is_one_line_and_close_stops_every_server(tmp_path: Path) -> None:
    from_cmd = (sys.executable, "-c", "print('from a command')")
    b = McpToolbox([notes("doomed"), notes("other", env_cmd={"GREETING": from_cmd})], log_dir=tmp_path)
    try:
        pids = [int(b.call(spec(b, f"{n}.pid"), {}, timeout=30).text) for n in ("doomed", "other")]
        assert b.call(spec(b, "other.env"), {"name": "GREETING"}, timeout=30).text == "from a command"
        r = b.call(spec(b, "doomed.crash"), {}, timeout=30)
        assert r.is_error
        assert r.text == (
            f"error: MCP server 'doomed' (command {sys.executable}) stopped during the call to doomed.crash: "
            "notes: fatal: the disk is on fire !"  # its last stderr line, the escape sequence removed
        )
        again = b.call(spec(b, "doomed.add"), {"a": 1, "b": 1}, timeout=30)
        assert again.is_error and "stopped during the call" in again.text
        assert "doomed" in b.errors and b.call(spec(b, "other.add"), {"a": 1, "b": 1}, timeout=30).text == "2"
    finally:
        b.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
    assert b._thread is None
    b.close()  # twice is harmless


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent, this process) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


HANG = "import sys, time; print('hanging \\x1b[2J\\\\o/', file=sys.stderr, flush=True); time.sleep(600)"


def test_servers_that_do_not_start(tmp_path: Path, http_url: str) -> None:
    configs = [
        notes("dead", "--exit-at-start"),
        ServerConfig("hang", command=sys.executable, args=("-c", HANG), timeout=5),
        ServerConfig("nope", command="no-such-mcp-server-xyz"),
        notes("where", cwd=str(tmp_path / "missing")),
        ServerConfig("refused", url="http://127.0.0.1:9/mcp"),
        ServerConfig("nokey", url=http_url),
    ]
    with McpToolbox(configs, log_dir=tmp_path) as b:
        assert b.specs() == []
        errors = {n: (type(e), str(e)) for n, e in b.errors.items()}
        detail = b.errors["dead"].detail
        bad = b.call(ToolSpecFor("nope", "x"), {}, timeout=5)
    shown = f"command {sys.executable}"
    assert errors == {
        "dead": (
            ToolServerError,
            f"MCP server 'dead' ({shown}) exited during start-up: notes: cannot open the database (locked)",
        ),
        "hang": (ToolServerError, errors["hang"][1]),
        "nope": (ConfigError, "MCP server 'nope': command not found: no-such-mcp-server-xyz"),
        "where": (ConfigError, f"MCP server 'where': cwd {str(tmp_path / 'missing')!r} is not a directory"),
        "refused": (ToolServerError, errors["refused"][1]),
        "nokey": (
            AuthError,
            f"MCP server 'nokey' at {http_url} refused the credentials (HTTP 401) "
            "(check the headers or headers_cmd of [mcp.servers.nokey])",
        ),
    }
    # (its stderr line, cleaned, unless the machine is too slow to print it within the 5 s)
    hang = f"MCP server 'hang' ({shown}) did not answer in 5 s (the server's timeout)"
    assert errors["hang"][1] in (hang, hang + ": hanging \\o/")
    assert errors["refused"][1].startswith("MCP server 'refused' at http://127.0.0.1:9/mcp: cannot connect")
    assert all("\n" not in text and "\x1b" not in text for _, text in errors.values())
    assert detail == (
        f"notes server starting\nnotes: cannot open the database (locked)\n(its stderr: {tmp_path / 'dead.stderr.log'})"
    )
    assert bad.is_error and bad.text == "error: MCP server 'nope': command not found: no-such-mcp-server-xyz"


def ToolSpecFor(server: str, name: str) -> Any:
    from gptcli.tools.base import ToolSpec

    return ToolSpec(server, name)


# --- the command -------------------------------------------------------------------------


def test_tools_list_both_kinds_table_and_json(gptcli: Any, isolated: Path, http_url: str) -> None:
    secret_env = [sys.executable, "-c", "print('env-secret-from-a-command')"]
    text = stdio_toml("notes", env_cmd={"GREETING": secret_env}) + http_toml("words", http_url)
    write_profile(isolated, "dev", text + '[tools]\nallow = ["notes.add", "words"]\nenabled = ["notes", "words"]\n')
    r = gptcli("tools", "list", "-p", "dev", "--json")
    assert r.code == 0, r.stderr
    rows = r.json()
    assert [t["qualified"] for t in rows] == [
        "notes.add", "notes.read_note", "notes.slow", "notes.big", "notes.crash", "notes.picture", "notes.env",
        "notes.noise", "notes.pid", "words.echo", "words.upper",
    ]  # fmt: skip
    assert rows[0] == {
        "server": "notes",
        "name": "add",
        "qualified": "notes.add",
        "description": "Add two whole numbers.",
        "input_schema": rows[0]["input_schema"],
        "enabled": True,
        "allowed": True,
    }
    assert rows[0]["input_schema"]["type"] == "object"
    assert [t["allowed"] for t in rows].count(True) == 3  # notes.add, words.echo, words.upper
    # The servers' stderr never reaches the user's: it is in the cache dir.
    assert r.stderr == ""
    log = isolated / "gptcli" / "cache" / "mcp" / "notes.stderr.log"
    assert "notes server starting" in log.read_text()

    table = gptcli("tools", "list", "-p", "dev")
    assert table.code == 0 and table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[0] == "tool\truns\tdescription"
    assert "notes.add\tallowed\tAdd two whole numbers." in lines
    assert "notes.read_note\tasks\tRead one of the server's notes by name." in lines
    assert "words.upper\tallowed\tUpper-case the text." in lines  # its first line; the red one is not shown
    assert "\x1b" not in table.stdout and "\x1b" not in r.stdout  # JSON spells it \u001b
    for out in (r.stdout, table.stdout):
        assert "env-secret-from-a-command" not in out and TOKEN not in out


def test_a_failing_server_is_one_line_and_the_others_are_listed(gptcli: Any, isolated: Path, http_url: str) -> None:
    text = (
        stdio_toml("dead", "--exit-at-start")
        + http_toml("words", http_url)
        + '[mcp.servers.nope]\ncommand = "no-such-mcp-server-xyz"\n'
    )
    write_profile(isolated, "dev", text)
    r = gptcli("tools", "list", "-p", "dev", "-v")
    assert r.code == 6, r.stderr  # the first failing server's: network
    listed = ["words.echo\tasks\tSay the text back.", "words.upper\tasks\tUpper-case the text."]
    assert r.stdout.splitlines()[1:] == listed
    dead, *rest = r.stderr.splitlines()
    assert dead == (
        f"gptcli: error: MCP server 'dead' (command {sys.executable}) exited during start-up: "
        "notes: cannot open the database (locked)"
    )
    # -v: the server's stderr (its last lines, cleaned), then the next server's one line.
    assert rest[:2] == ["notes server starting", "notes: cannot open the database (locked)"]
    assert rest[2].startswith("(its stderr: ") and rest[2].endswith("dead.stderr.log)")
    assert rest[3:] == ["gptcli: error: MCP server 'nope': command not found: no-such-mcp-server-xyz"]
    only = gptcli("tools", "list", "-p", "dev", "words", "--json")  # the others are not even started
    assert only.code == 0 and only.stderr == "" and [t["server"] for t in only.json()] == ["words", "words"]


def test_a_secret_command_that_fails_starts_nothing_and_shows_nothing(tmp_path: Path) -> None:
    leaky = (sys.executable, "-c", "print('hunter2-leaked'); raise SystemExit(3)")
    configs = [
        notes("a", env_cmd={"TOKEN": leaky}),
        ServerConfig("b", url="http://127.0.0.1:9/mcp", headers_cmd={"Authorization": ("no-such-pass-xyz", "show")}),
        notes("c", env_cmd={"TOKEN": (sys.executable, "-c", "")}),
    ]
    with McpToolbox(configs, log_dir=tmp_path) as b:
        assert b.specs() == []
        assert b._loop is None  # no server was started: no loop either
        errors = {n: (type(e), str(e)) for n, e in b.errors.items()}
    assert errors == {
        "a": (AuthError, f"MCP server 'a': env_cmd TOKEN: {sys.executable} exited with 3"),
        "b": (ConfigError, "MCP server 'b': headers_cmd Authorization: command not found: no-such-pass-xyz"),
        "c": (AuthError, f"MCP server 'c': env_cmd TOKEN: {sys.executable} printed nothing"),
    }


def test_results_of_every_content_kind() -> None:
    from mcp.types import (
        BlobResourceContents,
        CallToolResult,
        EmbeddedResource,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    from gptcli.tools.mcp import result_text

    content: list[Any] = [
        TextContent(text="one"),
        ResourceLink(uri="file:///a.txt", name="a"),
        EmbeddedResource(resource=TextResourceContents(uri="file:///b.txt", text="inline text")),
        EmbeddedResource(resource=BlobResourceContents(uri="file:///c.bin", blob="AAAA", mime_type="application/zip")),
    ]
    assert result_text(CallToolResult(content=content)) == (
        "one\n[resource link: file:///a.txt]\ninline text\n[resource file:///c.bin: application/zip, not shown]"
    )
    assert result_text(CallToolResult(content=[], structured_content={"n": 1})) == '{"n": 1}'
    assert result_text(CallToolResult(content=[])) == ""
