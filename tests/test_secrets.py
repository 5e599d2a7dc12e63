"""The API key: where it comes from, and everywhere it must never go.

Sources: the environment (``OPENAI_API_KEY``), the variable a profile's ``api_key_env``
names, or ``api_key_cmd`` (run without a shell; its first line, trimmed). Sinks it must
never reach: the conversation logs, batch output, ``--json``, ``--dry-run`` (redacted),
error messages (with or without ``--debug``), anything printed. The big scenario test
runs every command with the recognisable ``conftest.SECRET_KEY`` and searches every file
under the test's home and everything printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SECRET_KEY, Result, conversations, write_profile
from fakeserver import Reply

FRAGMENT = "d3adb33f"  # the middle of SECRET_KEY: not even a part of it may show


def key_script(tmp_path: Path, output: str, code: int = 0, stderr: str = "") -> Path:
    """A stand-in for `pass show openai`: prints ``output`` (and ``stderr``), exits ``code``."""
    path = tmp_path / "bin" / f"key{abs(hash((output, code, stderr)))}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"import sys\nsys.stdout.write({output!r})\nsys.stderr.write({stderr!r})\nsys.exit({code})\n",
        encoding="utf-8",
    )
    return path


def toml_list(*argv: str | Path) -> str:
    return "[" + ", ".join(json.dumps(str(a)) for a in argv) + "]"


# --- where the key comes from -----------------------------------------------------------------


def test_key_from_the_environment_and_from_api_key_env(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "hi").code == 0
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET_KEY}"
    # Surrounding whitespace (a copy-paste, `export K="$(cat file)"`) is trimmed.
    assert gptcli("ask", "hi", env={"OPENAI_API_KEY": f"  {SECRET_KEY}\n"}).code == 0
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET_KEY}"
    write_profile(isolated, "team", 'api_key_env = "TEAM_KEY"\n')
    r = gptcli("ask", "-p", "team", "hi", env={"TEAM_KEY": "sk-team-0000", "OPENAI_API_KEY": ""})
    assert r.code == 0, r.stderr
    assert server.requests[-1].headers["authorization"] == "Bearer sk-team-0000"


def test_key_from_api_key_cmd_first_line_trimmed_no_shell(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    # `pass show` prints the password on the first line and metadata after it.
    script = key_script(tmp_path, "  sk-from-cmd-1234  \nlogin: me@example.com\nurl: x\n")
    write_profile(isolated, "pass", f"api_key_cmd = {toml_list(sys.executable, script)}\n")
    r = gptcli("ask", "-p", "pass", "hi", env={"OPENAI_API_KEY": ""})
    assert r.code == 0, r.stderr
    assert server.requests[-1].headers["authorization"] == "Bearer sk-from-cmd-1234"
    # No shell: $(...), backticks and ; reach the command as literal text.
    write_profile(isolated, "lit", "api_key_cmd = 'printf %s sk-$(id)`id`;x'\n")
    r = gptcli("ask", "-p", "lit", "hi")
    assert r.code == 0, r.stderr
    assert server.requests[-1].headers["authorization"] == "Bearer sk-$(id)`id`;x"
    # api_key_cmd wins over the environment.
    assert server.requests[-1].headers["authorization"] != f"Bearer {SECRET_KEY}"


@pytest.mark.parametrize(
    ("profile", "env", "code", "needle"),
    [
        ("failing", {}, 4, "exited with 3"),
        ("silent", {}, 4, "printed no key"),
        ("missing", {}, 3, "command not found"),
        (None, {"OPENAI_API_KEY": f"{SECRET_KEY}\nsecond line"}, 4, "line breaks"),
        (None, {"OPENAI_API_KEY": f"{SECRET_KEY}é"}, 4, "non-ASCII"),
        (None, {"OPENAI_API_KEY": ""}, 4, "no API key: set OPENAI_API_KEY"),
    ],
)
def test_key_problems_never_echo_the_key(
    server, gptcli, isolated: Path, tmp_path: Path, profile: str | None, env: dict[str, str], code: int, needle: str
) -> None:
    # The failing command prints the key on stderr, as a confused password manager might.
    scripts = {
        "failing": key_script(tmp_path, "", 3, f"error: wrong passphrase for {SECRET_KEY}\n"),
        "silent": key_script(tmp_path, "\n  \n"),
    }
    if profile == "missing":
        write_profile(isolated, profile, 'api_key_cmd = "no-such-password-manager show openai"\n')
    elif profile is not None:
        write_profile(isolated, profile, f"api_key_cmd = {toml_list(sys.executable, scripts[profile])}\n")
    if profile is None and "OPENAI_API_KEY" in env and env["OPENAI_API_KEY"] == "":
        server_env = {"OPENAI_BASE_URL": ""}  # OpenAI's own host: a key is required
    else:
        server_env = {}
    for debug in ((), ("--debug",)):
        args = (*debug, "ask", *(("-p", profile) if profile else ()), "hi")
        r = gptcli(*args, env={**env, **server_env})
        assert r.code == code, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
        assert FRAGMENT not in r.stderr + r.stdout and "Traceback" not in r.stderr
    assert server.chat_requests() == []


# --- everywhere it must not go -------------------------------------------------------------------


def _all_files(root: Path, skip: set[Path]) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p not in skip and not p.is_symlink():
                out.append(p)
    return out


def test_the_key_never_leaks_anywhere(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    """Every command, in success and failure, with the recognisable key: then search everything."""
    printed: list[tuple[tuple[str, ...], Result]] = []

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        r = gptcli(*args, input=input, env=env)
        printed.append((args, r))
        return r

    # Profiles that carry the key in a header and in a key command's script (written by the user: skipped).
    script = key_script(tmp_path, SECRET_KEY + "\n")
    mine = {
        write_profile(
            isolated,
            "hdr",
            f'max_retries = 0\ntimeout = 1\n[headers]\nX-Api-Key = "{SECRET_KEY}"\nX-Trace = "visible"\n',
        ),
        write_profile(isolated, "cmd", f"api_key_cmd = {toml_list(sys.executable, script)}\nmax_retries = 0\n"),
        script,
    }

    # ask: ok, streamed and not, --json, -v, -n 2, --dry-run, a key command, a secret header.
    assert run("ask", "hello").code == 0
    assert run("ask", "--no-stream", "hello").code == 0
    assert run("ask", "--json", "hello").code == 0
    assert run("ask", "-v", "-n", "2", "hello").code == 0
    assert run("ask", "-p", "cmd", "from a command").code == 0
    assert run("ask", "-p", "hdr", "with a header").code == 0
    assert server.requests[-1].headers["x-api-key"] == SECRET_KEY  # it was sent, where it belongs
    for p in ("default", "hdr", "cmd"):
        r = run("ask", "-p", p, "--dry-run", "hello")
        assert r.code == 0 and "[redacted]" in r.stdout
    # Errors, with and without --debug.
    server.require_key = "sk-some-other-key-00000000"
    for args in (("ask", "hi"), ("--debug", "ask", "hi"), ("ask", "--json", "hi")):
        assert run(*args).code == 4
    server.require_key = None
    for reply, args, code in (
        (Reply(status=429), ("ask", "-p", "hdr", "hi"), 5),
        (Reply(status=500), ("--debug", "ask", "-p", "hdr", "hi"), 6),
        (Reply(tokens=40, drop_after=3), ("ask", "hi"), 6),
        (Reply(malformed="sse"), ("ask", "hi"), 6),
        (Reply(malformed="json"), ("--debug", "ask", "--no-stream", "hi"), 6),
        (Reply(hang=True), ("ask", "-p", "hdr", "hi"), 6),
        (
            Reply(status=400, error={"message": f"echoing {SECRET_KEY}", "code": "x", "type": "t", "param": None}),
            ("ask", "hi"),
            1,
        ),
    ):
        server.enqueue(reply, times=3)
        assert run(*args).code == code, args
        server.clear()

    # chat (stdin mode), with a failed turn and /retry.
    server.enqueue(Reply(tokens=20, drop_after=2))
    assert run("chat", "-p", "cmd", input="hello\n/retry\n/set temperature 0.5\n/cost\n").code == 0

    # replay: list, show in every format, re-run.
    cid = conversations(isolated)[0].stem
    for args in (
        ("replay",),
        ("replay", "--json"),
        ("replay", cid, "--json"),
        ("replay", cid, "--format", "openai"),
        ("replay", cid, "--format", "markdown"),
        ("replay", "--last", "--rerun"),
    ):
        assert run(*args).code == 0, args

    # batch: a file to -o, one to stdout, a dry run, a rejected key.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo\nthree\n", encoding="utf-8")
    out = isolated / "out.jsonl"
    assert run("batch", str(prompts), "-o", str(out)).code == 0
    assert run("batch", str(prompts), "-p", "hdr").code == 0
    assert run("batch", str(prompts), "--dry-run").code == 0
    server.require_key = "sk-some-other-key-00000000"
    assert run("batch", str(prompts), "-o", str(isolated / "out401.jsonl")).code == 4
    server.require_key = None

    # The rest: models, count, profiles.
    for args in (
        ("models",),
        ("models", "--json"),
        ("count", "hello"),
        ("profiles", "list"),
        ("profiles", "show", "hdr"),
        ("profiles", "show", "hdr", "--json"),
        ("profiles", "show", "cmd"),
    ):
        assert run(*args).code == 0, args

    leaks = [
        (args, where)
        for args, r in printed
        for where, text in (("stdout", r.stdout), ("stderr", r.stderr))
        if SECRET_KEY in text or FRAGMENT in text
    ]
    assert leaks == []
    assert all("Traceback" not in r.stderr for _, r in printed)
    files = _all_files(isolated, mine)
    assert len(files) > 10  # logs, batch output, the chat history, caches...
    leaked_files = [str(p) for p in files if FRAGMENT.encode() in p.read_bytes()]
    assert leaked_files == []


# --- permissions ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _umask0() -> Iterator[None]:
    """Run gptcli under umask 000: only gptcli's own modes keep its files private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_private_files_0600_in_0700_dirs_even_under_umask_0(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\nb\n")
    with _umask0():
        assert gptcli("ask", "hello").code == 0
        assert gptcli("chat", input=b"hello\n").code == 0
        assert gptcli("ask", "-c", "more").code == 0
        assert gptcli("batch", str(prompts), "-o", str(isolated / "gptcli" / "batch-out.jsonl")).code == 0
    data = isolated / "gptcli" / "data"
    convs = conversations(isolated)
    assert len(convs) == 2
    for path in convs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for d in (data, data / "conversations"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    # Everything gptcli keeps in its data dir is private, whatever it is.
    for dirpath, dirs, files in os.walk(data):
        for name in dirs:
            assert stat.S_IMODE((Path(dirpath) / name).stat().st_mode) & 0o077 == 0, name
        for name in files:
            assert stat.S_IMODE((Path(dirpath) / name).stat().st_mode) & 0o077 == 0, name
    # A batch output file holds prompts and answers: private too.
    assert stat.S_IMODE((isolated / "gptcli" / "batch-out.jsonl").stat().st_mode) & 0o077 == 0


def test_an_existing_loose_dir_is_tightened(server, gptcli, isolated: Path) -> None:
    convs = isolated / "gptcli" / "data" / "conversations"
    convs.mkdir(parents=True, mode=0o755)
    convs.chmod(0o755)
    assert gptcli("ask", "hello").code == 0
    assert stat.S_IMODE(convs.stat().st_mode) == 0o700


def test_a_saved_profile_with_a_key_command_is_private(server, gptcli, isolated: Path, tmp_path: Path) -> None:
    """chat's /save-profile copies api_key_cmd (a command may embed a credential): 0600, not 0644."""
    script = key_script(tmp_path, "sk-from-cmd-5678\n")
    write_profile(isolated, "cmd", f"api_key_cmd = {toml_list(sys.executable, script)}\n")
    r = gptcli("chat", "-p", "cmd", input="hi\n/save-profile copy\n")
    assert r.code == 0, r.stderr
    saved = isolated / "gptcli" / "config" / "profiles" / "copy.toml"
    assert "api_key_cmd" in saved.read_text(encoding="utf-8")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    r = gptcli("profiles", "new", "plain", "-m", "gpt-4o")
    assert r.code == 0, r.stderr
    assert stat.S_IMODE((saved.parent / "plain.toml").stat().st_mode) == 0o644
