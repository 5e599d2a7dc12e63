"""The profile keys of tools: [mcp.servers.NAME] and [tools] checked one line per mistake,
merged over ``extends``, shown and logged with their secrets redacted (issue 20). No server
is started here (tests/test_mcp.py starts them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import conversations, write_profile
from gptcli import profiles
from gptcli.errors import ConfigError
from gptcli.tools import config
from gptcli.tools.mcp import toolbox_for

GOOD = """
[mcp.servers.fs]
command = "npx"
args = ["-y", "server-filesystem", "."]
env = { LOG_LEVEL = "warn", API_TOKEN = "env-secret-123" }
env_cmd = { OTHER = "pass show other" }
cwd = "~"
timeout = 30

[mcp.servers.search]
url = "http://alice:url-password-9@127.0.0.1:8931/mcp"
headers = { Authorization = "Bearer header-secret-456", X-Title = "gptcli" }
headers_cmd = { X-Key = ["pass", "show", "key"] }

[tools]
allow = ["fs.read_file", "search"]
enabled = ["fs", "search.*"]
max_result_chars = 5000
"""
SECRETS = ("env-secret-123", "header-secret-456", "url-password-9", "pass show", '"show"')


def test_a_good_profile_resolves_into_servers_and_settings(isolated: Path) -> None:
    write_profile(isolated, "dev", GOOD)
    prof = profiles.resolve("dev")
    fs, search = config.servers(prof)
    assert (fs.name, fs.kind, fs.command, fs.args, fs.timeout) == (
        "fs",
        "stdio",
        "npx",
        ("-y", "server-filesystem", "."),
        30.0,
    )
    assert fs.env_cmd == {"OTHER": ("pass", "show", "other")}
    assert (search.kind, search.timeout, search.start_timeout) == ("http", None, config.DEFAULT_TIMEOUT)
    assert search.headers_cmd == {"X-Key": ("pass", "show", "key")}
    assert search.shown == "url http://alice:***@127.0.0.1:8931/mcp"
    ts = config.tool_settings(prof)
    assert ts.max_result_chars == 5000
    assert ts.is_allowed("fs.read_file") and ts.is_allowed("search.anything")
    assert not ts.is_allowed("fs.write_file") and not ts.is_allowed("fsx.read_file")
    assert ts.is_enabled("search.x") and not ts.is_enabled("other.x")
    assert prof.sources["mcp"].endswith("dev.toml:2") and prof.sources["tools"].endswith("dev.toml:15")


@pytest.mark.parametrize(
    ("qualified", "pattern", "expected"),
    [
        ("fs.read_file", "fs.read_file", True),
        ("fs.read_file", "fs.*", True),
        ("fs.read_file", "fs", True),  # a server's name alone: all its tools
        ("fs.read_file", "*", True),
        ("fs.read_file", "f*.read_*", True),
        ("fs.read_file", "fs.read", False),
        ("fsx.read_file", "fs", False),
        ("fs.read_file", "search", False),
    ],
)
def test_patterns(qualified: str, pattern: str, expected: bool) -> None:
    assert config.matches(qualified, pattern) is expected


def test_secrets_are_redacted_in_profiles_show_and_the_log(gptcli: Any, server: Any, isolated: Path) -> None:
    # enabled = []: no tool is sent by default, so the turn below starts no server.
    write_profile(isolated, "dev", GOOD.replace('enabled = ["fs", "search.*"]', "enabled = []"))
    r = gptcli("profiles", "show", "dev", "--json")
    assert r.code == 0, r.stderr
    shown = r.json()["settings"]["mcp"]["servers"]
    assert shown["fs"]["env"] == {"LOG_LEVEL": "[redacted]", "API_TOKEN": "[redacted]"}
    assert shown["fs"]["env_cmd"] == {"OTHER": "[redacted]"}
    assert shown["fs"]["args"] == ["-y", "server-filesystem", "."]  # args are shown: no secrets there
    assert shown["search"]["headers"] == {"Authorization": "[redacted]", "X-Title": "[redacted]"}
    assert shown["search"]["url"] == "http://alice:***@127.0.0.1:8931/mcp"
    table = gptcli("profiles", "show", "dev")
    assert table.code == 0 and "[redacted]" in table.stdout
    # The conversation log keeps the settings a turn ran with: redacted the same way.
    turn = gptcli("ask", "-p", "dev", "hi")
    assert turn.code == 0, turn.stderr
    (log,) = conversations(isolated)
    logged = log.read_text()
    assert "[redacted]" in logged
    for text in (r.stdout, r.stderr, table.stdout, table.stderr, turn.stdout, turn.stderr, logged):
        assert not any(s in text for s in SECRETS), text


def test_a_conversation_never_brings_back_servers_or_allow_lists(isolated: Path) -> None:
    from gptcli import continuing

    assert {"mcp", "tools", "api_key_cmd"} <= continuing._PROFILE_ONLY


def test_extends_adds_servers_and_replaces_by_name(isolated: Path) -> None:
    write_profile(
        isolated,
        "base",
        '[mcp.servers.a]\ncommand = "a-old"\n[mcp.servers.b]\nurl = "http://h/mcp"\n'
        '[tools]\nallow = ["a"]\nmax_result_chars = 500\n',
    )
    write_profile(
        isolated,
        "child",
        'extends = "base"\n[mcp.servers.a]\ncommand = "a-new"\n[mcp.servers.c]\ncommand = "c"\n'
        '[tools]\nallow = ["c.*"]\n',
    )
    prof = profiles.resolve("child")
    assert [(s.name, s.command or s.url) for s in config.servers(prof)] == [
        ("a", "a-new"),
        ("b", "http://h/mcp"),
        ("c", "c"),
    ]
    ts = config.tool_settings(prof)
    assert ts.allow == ("c.*",) and ts.max_result_chars == 500


def test_toolbox_for_keeps_only_the_selected_servers(isolated: Path) -> None:
    write_profile(
        isolated,
        "dev",
        '[mcp.servers.a]\ncommand = "a"\n[mcp.servers.b]\ncommand = "b"\n'
        '[tools]\nenabled = ["b"]\nmax_result_chars = 700\n',
    )
    prof = profiles.resolve("dev")
    box = toolbox_for(prof)
    assert box.names == ["b"] and box.max_result_chars == 700
    assert toolbox_for(prof, ["a.read", "b.*"]).names == ["a", "b"]
    assert toolbox_for(prof, []).names == []
    assert toolbox_for(profiles.resolve("default")).names == []  # no servers: an empty toolbox
    assert toolbox_for(profiles.resolve("default")).specs() == []  # that starts nothing


BAD = [
    ('[mcp.servers.fs]\ncomand = "npx"\n', "'mcp' server 'fs': unknown key 'comand' (known: command, args,"),
    ('[mcp.servers.fs]\ncommand = "x"\nurl = "http://h/mcp"\n', "needs exactly one of command (a stdio server) or url"),
    ("[mcp.servers.fs]\nargs = []\n", "needs exactly one of command"),
    ('[mcp.servers.fs]\nurl = "http://h/mcp"\nargs = ["x"]\n', "'args' does not apply to an HTTP server (url)"),
    ('[mcp.servers.fs]\ncommand = "x"\nheaders = { A = "b" }\n', "'headers' does not apply to a stdio server"),
    ('[mcp.servers."f.s"]\ncommand = "x"\n', "server name 'f.s': letters, digits, '_' and '-' only (no dots)"),
    ('[mcp.servers.fs]\ncommand = ""\n', "command must be a non-empty string"),
    ('[mcp.servers.fs]\ncommand = "x"\nargs = "-y"\n', "args must be a list of strings"),
    ('[mcp.servers.fs]\ncommand = "x"\nenv = { A = 1 }\n', "env must be a table of strings"),
    ('[mcp.servers.fs]\ncommand = "x"\nenv = { "A B" = "1" }\n', "env: 'A B' is not an environment variable name"),
    ('[mcp.servers.fs]\ncommand = "x"\nenv_cmd = { A = "" }\n', "env_cmd A must not be empty"),
    (
        '[mcp.servers.fs]\ncommand = "x"\nenv_cmd = { A = 3 }\n',
        "env_cmd A must be a command string or a list",
    ),
    ('[mcp.servers.fs]\ncommand = "x"\ntimeout = -1\n', "timeout must be a number of seconds, more than 0"),
    ('[mcp.servers.fs]\nurl = "ftp://h/mcp"\n', "url must be an http:// or https:// URL with a host"),
    (
        '[mcp.servers.fs]\nurl = "http://h/mcp"\nheaders = { "Bad Name" = "v" }\n',
        "'Bad Name' is not a valid header",
    ),
    (
        '[mcp.servers.fs]\nurl = "http://h/mcp"\nheaders = { A = "v\\nw" }\n',
        "the value of A cannot contain a line",
    ),
    ("[mcp]\nserver = 1\n", "'mcp' has an unknown key 'server' (servers go in [mcp.servers.NAME])"),
    ("mcp = 3\n", "'mcp' must be a table"),
    ("[tools]\nallow = 3\n", "allow must be a list of tool patterns"),
    ('[tools]\nallow = ["fs read"]\n', "allow: 'fs read' is not a tool pattern"),
    ('[tools]\nalow = ["fs"]\n', "'tools' has an unknown key 'alow' (known: allow, enabled, max_result_chars)"),
    ("[tools]\nmax_result_chars = 5\n", "max_result_chars must be a whole number, at least 100"),
]


@pytest.mark.parametrize(("toml", "expected"), BAD, ids=[b[1][:40] for b in BAD])
def test_each_mistake_is_one_line_and_exit_3(gptcli: Any, isolated: Path, toml: str, expected: str) -> None:
    write_profile(isolated, "bad", toml)
    r = gptcli("profiles", "show", "bad")
    assert r.code == 3, r.stderr
    assert r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("gptcli: error: ") and "bad.toml:" in line and expected in line, line


def test_enabled_naming_no_server_is_one_line(gptcli: Any, isolated: Path) -> None:
    write_profile(isolated, "dev", '[mcp.servers.fs]\ncommand = "x"\n[tools]\nenabled = ["fss"]\n')
    r = gptcli("tools", "list", "-p", "dev")
    assert r.code == 3 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"gptcli: error: {profiles.display_path(isolated / 'gptcli/config/profiles/dev.toml')}:3: [tools] enabled: "
        "'fss' names no MCP server (known: fs)"
    ]
    with pytest.raises(ConfigError):
        config.tool_settings(profiles.resolve("dev"))


def test_tools_list_without_servers(gptcli: Any, isolated: Path) -> None:
    r = gptcli("tools", "list", "--json")
    assert (r.code, r.json()) == (0, [])
    assert r.stderr.splitlines() == [
        "warning: profile 'default' declares no MCP servers (add [mcp.servers.NAME]: see the README)"
    ]
    assert gptcli("tools").code == 0  # the group alone lists
    write_profile(isolated, "dev", '[mcp.servers.fs]\ncommand = "x"\n[tools]\nenabled = ["fss"]\n')
    for args in (["tools", "-p", "dev"], ["tools", "-p", "dev", "list"], ["tools", "list", "-p", "dev"]):
        assert "'fss' names no MCP server" in gptcli(*args).stderr, args  # -p reaches the listing
    write_profile(isolated, "dev", '[mcp.servers.fs]\ncommand = "x"\n')
    r = gptcli("tools", "list", "-p", "dev", "fs", "gh")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr.splitlines() == ["gptcli: error: profile 'dev' has no MCP server 'gh' (known: fs)"]


def test_settings_keep_plain_data() -> None:
    json.dumps(profiles.resolve("default").settings())  # mcp and tools are JSON as they are


def test_a_profile_written_with_servers_is_private(isolated: Path) -> None:
    table = {"model": "m", "mcp": {"servers": {"fs": {"command": "x", "env": {"TOKEN": "t"}}}}}
    path = profiles.write_user_profile("saved", table)
    assert path.stat().st_mode & 0o777 == 0o600
    assert config.servers(profiles.resolve("saved"))[0].env == {"TOKEN": "t"}


def test_tab_completes_server_names(isolated: Path) -> None:
    from test_completions import bash_complete

    write_profile(isolated, "dev", '[mcp.servers.fs]\ncommand = "x"\n[mcp.servers.fetch]\nurl = "http://h/mcp"\n')
    write_profile(isolated, "default", '[mcp.servers.gh]\ncommand = "y"\n')
    assert bash_complete("tools", "list", "-p", "dev", "f") == ["fs", "fetch"]
    assert bash_complete("tools", "-p", "dev", "list", "fe") == ["fetch"]
    assert bash_complete("tools", "list", "") == ["gh"]  # the active profile's


def test_chat_set_refuses_servers(server: Any, gptcli: Any) -> None:
    r = gptcli("chat", input='/set mcp {"servers": {}}\n')
    assert r.code == 0
    assert "/set: unknown key 'mcp'" in r.stderr and "mcp," not in r.stderr.split("known:")[1]
