"""The bad input corpus: each case gives one line on stderr and its exit code, never a traceback.

Cases run the real ``gptcli`` against the loopback server; most fail before any request.
The path-separator cases also check that nothing outside gptcli's own dirs is read into
the store or written. docs/reliability.md lists every case.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import SECRET_KEY, conversations, read_jsonl, write_profile
from fakeserver import Reply


@dataclass
class Case:
    name: str
    args: tuple[str, ...]
    code: int
    needle: str
    stdin: bytes = b""
    # relative to tmp_path; "P/" prefix means the user profiles dir, "C/" the conversations dir
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


META = {"v": 1, "type": "meta", "id": "abcd01", "created": "2025-01-01T00:00:00Z", "profile": "default", "settings": {}}


def _conv(cid: str, *records: dict) -> bytes:
    meta = {**META, "id": cid}
    return "".join(json.dumps(r) + "\n" for r in (meta, *records)).encode()


MSG = {"v": 1, "type": "message", "role": "user", "content": "old question", "time": "2025-01-01T00:00:00Z"}

CASES = [
    # --- profiles (TOML) ---
    Case("broken TOML", ("ask", "-p", "t", "hi"), 3, "t.toml: invalid TOML", files={"P/t.toml": b'model = "gpt-4o\n'}),
    Case(
        "wrong type",
        ("ask", "-p", "t", "hi"),
        3,
        "t.toml:1: 'temperature' must be a number",
        files={"P/t.toml": b'temperature = "hot"\n'},
    ),
    Case(
        "unknown key",
        ("ask", "-p", "t", "hi"),
        3,
        "unknown key 'temprature' (did you mean 'temperature'?)",
        files={"P/t.toml": b"temprature = 0.5\n"},
    ),
    Case(
        "out of range",
        ("ask", "-p", "t", "hi"),
        3,
        "'temperature' must be between 0 and 2",
        files={"P/t.toml": b"\n\ntemperature = 3\n"},
    ),
    Case(
        "too many stops",
        ("ask", "-p", "t", "hi"),
        3,
        "takes at most 4",
        files={"P/t.toml": b'stop = ["a", "b", "c", "d", "e"]\n'},
    ),
    Case(
        "price sub-key",
        ("ask", "-p", "t", "hi"),
        3,
        "'price' input must be a number",
        files={"P/t.toml": b'[price]\ninput = "cheap"\n'},
    ),
    Case(
        "connect_timeout type",
        ("ask", "-p", "t", "hi"),
        3,
        "'connect_timeout' must be a number",
        files={"P/t.toml": b'connect_timeout = "soon"\n'},
    ),
    Case(
        "extends loop",
        ("ask", "-p", "a", "hi"),
        3,
        "'extends' loops",
        files={"P/a.toml": b'extends = "b"\n', "P/b.toml": b'extends = "a"\n'},
    ),
    Case(
        "extends unknown",
        ("ask", "-p", "t", "hi"),
        3,
        "extends unknown profile 'nope'",
        files={"P/t.toml": b'extends = "nope"\n'},
    ),
    Case(
        "profile not UTF-8", ("ask", "-p", "t", "hi"), 3, "t.toml: not UTF-8", files={"P/t.toml": b"model = '\xff'\n"}
    ),
    Case("unknown profile", ("ask", "-p", "nope", "hi"), 3, "unknown profile 'nope'"),
    Case("profile name with path", ("ask", "-p", "../../etc/passwd", "hi"), 2, "not a profile name"),
    Case("GPTCLI_PROFILE unknown", ("ask", "hi"), 3, "unknown profile 'nope'", env={"GPTCLI_PROFILE": "nope"}),
    Case(
        "GPTCLI_BASE_URL bad",
        ("ask", "hi"),
        3,
        "GPTCLI_BASE_URL: must start with http",
        env={"GPTCLI_BASE_URL": "ftp://x"},
    ),
    Case(
        "GPTCLI_HOME is a file",
        ("ask", "hi"),
        3,
        "cannot create",
        env={"GPTCLI_HOME": "@/afile"},
        files={"afile": b"x"},
    ),
    # --- flags ---
    Case("temperature flag", ("ask", "-t", "5", "hi"), 2, "--temperature: must be between 0 and 2"),
    Case("max-tokens 0", ("ask", "--max-tokens", "0", "hi"), 2, "--max-tokens: must be at least 1"),
    Case("five stops", ("ask", *("--stop", "x") * 5, "hi"), 2, "at most 4"),
    Case("bad --param", ("ask", "--param", "novalue", "hi"), 2, "--param expects KEY=VALUE"),
    Case("negative --max-cost", ("ask", "--max-cost", "-1", "hi"), 2, "--max-cost"),
    Case("unknown option", ("ask", "--bogus", "hi"), 2, "No such option: --bogus"),
    # --- the prompt ---
    Case("empty stdin", ("ask",), 2, "no prompt"),
    Case("blank stdin", ("ask",), 2, "no prompt", stdin=b" \n\t\n"),
    Case("binary stdin", ("ask",), 2, "stdin looks binary", stdin=b"\x7fELF\x00\x01\x02"),
    Case(
        "invalid UTF-8 stdin", ("ask",), 2, "stdin is not UTF-8 text (bad byte at offset 3)", stdin=b"caf\xe9 au lait"
    ),
    Case("-f missing", ("ask", "-f", "@/missing.txt", "hi"), 2, "no such file"),
    Case("-f directory", ("ask", "-f", "@", "hi"), 2, "is a directory"),
    Case("-f binary", ("ask", "-f", "@/blob.bin", "hi"), 2, "looks binary", files={"blob.bin": b"\x00\x01"}),
    Case("-f latin-1", ("ask", "-f", "@/l1.txt", "hi"), 2, "is not UTF-8", files={"l1.txt": b"na\xefve"}),
    # --- conversation ids and files ---
    Case("unknown id", ("ask", "--cid", "deadbeef", "hi"), 3, "no conversation with id deadbeef"),
    Case(
        "ambiguous id",
        ("ask", "--cid", "abcd", "hi"),
        2,
        "ambiguous",
        files={"C/abcd01.jsonl": _conv("abcd01", MSG), "C/abcd02.jsonl": _conv("abcd02", MSG)},
    ),
    Case(
        "future meta version",
        ("ask", "--cid", "abcd01", "hi"),
        3,
        "written by a newer gptcli (record version 2",
        files={"C/abcd01.jsonl": _conv("abcd01", MSG).replace(b'"v": 1', b'"v": 2', 1)},
    ),
    Case(
        "future record version",
        ("ask", "--cid", "abcd01", "hi"),
        3,
        "written by a newer gptcli",
        files={"C/abcd01.jsonl": _conv("abcd01", MSG, {**MSG, "v": 2})},
    ),
    Case(
        "not a conversation",
        ("ask", "--cid=@/notes.jsonl", "hi"),
        3,
        "not a gptcli conversation",
        files={"notes.jsonl": b"just some text\n"},
    ),
    Case(
        "empty conversation file",
        ("ask", "--cid=@/empty.jsonl", "hi"),
        3,
        "not a gptcli conversation",
        files={"empty.jsonl": b""},
    ),
]


def _materialise(case: Case, tmp: Path) -> tuple[list[str], dict[str, str]]:
    profiles = tmp / "gptcli" / "config" / "profiles"
    convs = tmp / "gptcli" / "data" / "conversations"
    for rel, data in case.files.items():
        if rel.startswith("P/"):
            path = profiles / rel[2:]
        elif rel.startswith("C/"):
            path = convs / rel[2:]
        else:
            path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def sub(s: str) -> str:
        return s.replace("@", str(tmp)) if "@" in s else s

    return [sub(a) for a in case.args], {k: sub(v) for k, v in case.env.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_line_and_its_exit_code(server, gptcli, isolated: Path, case: Case) -> None:
    args, env = _materialise(case, isolated)
    r = gptcli(*args, input=case.stdin, env=env)
    assert r.code == case.code, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("gptcli: error: ")
    assert case.needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr and SECRET_KEY not in r.stderr
    assert r.stdout == ""
    assert server.chat_requests() == []  # refused before anything was sent


def test_bad_input_with_debug_shows_no_traceback_for_known_errors(server, gptcli) -> None:
    r = gptcli("--debug", "ask", "-p", "nope", "hi")
    assert r.code == 3 and "Traceback" not in r.stderr


# --- inputs that must work ---------------------------------------------------------------


def test_crlf_and_bom_in_prompt_files(server, gptcli, tmp_path: Path) -> None:
    """A BOM is dropped (it is not text); CRLF line ends reach the model as written."""
    f = tmp_path / "windows.txt"
    f.write_bytes("\ufeffline one\r\nline two 中文\r\n".encode())
    r = gptcli("ask", "Summarise", "-f", str(f))
    assert r.code == 0, r.stderr
    assert server.chat_requests()[0]["messages"][-1]["content"] == "Summarise\n\nline one\r\nline two 中文\r\n"
    r = gptcli("ask", input="\ufeffpiped with a BOM\r\n".encode())
    assert r.code == 0, r.stderr
    assert server.chat_requests()[1]["messages"][-1]["content"] == "piped with a BOM\r\n"


def test_bom_in_a_profile_file(server, gptcli, isolated: Path) -> None:
    d = isolated / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True)
    (d / "bom.toml").write_bytes(b'\xef\xbb\xbftemperature = 0.3\r\nmodel = "gpt-4o"\r\n')
    r = gptcli("ask", "-p", "bom", "hi")
    assert r.code == 0, r.stderr
    body = server.chat_requests()[0]
    assert body["temperature"] == 0.3 and body["model"] == "gpt-4o"


@pytest.mark.slow  # 50 MB of text, tokenised: ~5 s of CPU on its own
def test_50mb_prompt_is_refused_before_sending(server, gptcli, isolated: Path) -> None:
    """With the default model's window (gpt-4o-mini: 128k) a 50 MB prompt fails fast with exit 8."""
    write_profile(isolated, "w", 'extends = "default"\ncontext_window = 128000\n')
    big = ("lorem ipsum dolor sit amet 中文 " * 1_700_000).encode()
    assert len(big) > 50_000_000
    r = gptcli("ask", "-p", "w", input=big, timeout=120)
    assert r.code == 8, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "too long for gpt-4o-mini" in lines[0] and "128,000" in lines[0]
    assert server.requests == []  # the server saw nothing
    # Nothing is logged for a request that was never sent.
    assert all([r["role"] for r in read_jsonl(p) if r.get("type") == "message"] == [] for p in conversations(isolated))


def test_a_torn_or_garbled_log_still_continues(server, gptcli, isolated: Path) -> None:
    """Lines that are not JSON, not objects or of unknown types are skipped with a warning."""
    convs = isolated / "gptcli" / "data" / "conversations"
    convs.mkdir(parents=True)
    reply = {**MSG, "role": "assistant", "content": "old answer"}
    data = _conv("abcd01", MSG, reply) + b"not json\n[1, 2]\n" + json.dumps({"v": 1, "type": "alien"}).encode() + b"\n"
    (convs / "abcd01.jsonl").write_bytes(data)
    r = gptcli("ask", "--cid", "abcd01", "next")
    assert r.code == 0, r.stderr
    assert r.stderr.count("warning:") == 3 and "Traceback" not in r.stderr
    assert [m["content"] for m in server.chat_requests()[0]["messages"]] == ["old question", "old answer", "next"]


# --- ids that look like paths ------------------------------------------------------------------


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


PATH_IDS = [
    "../x",
    "../../etc/passwd",
    "a/b",
    "..",
    "/",
    "~",
    "..\\..\\x",
    "%2e%2e%2fx",
    "abcd01/../../outside",
    "abcd01/",
    "/dev/zero",
    "-rf",
]


@pytest.mark.parametrize("ref", PATH_IDS)
def test_ids_with_path_separators_stay_inside(
    server, gptcli, isolated: Path, monkeypatch: pytest.MonkeyPatch, ref: str
) -> None:
    """Nothing outside gptcli's dirs is written, and nothing there is taken into the store."""
    convs = isolated / "gptcli" / "data" / "conversations"
    convs.mkdir(parents=True)
    (convs / "abcd01.jsonl").write_bytes(_conv("abcd01", MSG))
    (isolated / "outside.jsonl").write_bytes(_conv("feed01", MSG))
    (isolated / "x").write_text("not a conversation")
    work = isolated / "work"
    work.mkdir()
    before = _tree(isolated)
    monkeypatch.chdir(work)  # a relative id must not reach the working directory either
    proc = gptcli("ask", f"--cid={ref}", "hi")
    replay = gptcli("replay", ref, "--rerun")
    after = _tree(isolated)
    for p in (proc, replay):
        assert p.code in (2, 3), (ref, p.code, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gptcli: error: ") and "Traceback" not in p.stderr
    assert server.chat_requests() == []
    assert before == after


def test_symlinked_conversation_is_copied_not_written_through(server, gptcli, isolated: Path) -> None:
    """A store entry that links outside the store is read, and continued in a new file."""
    outside = isolated / "elsewhere.jsonl"
    outside.write_bytes(_conv("abcd01", MSG))
    before = outside.read_bytes()
    convs = isolated / "gptcli" / "data" / "conversations"
    convs.mkdir(parents=True)
    (convs / "abcd01.jsonl").symlink_to(outside)
    r = gptcli("ask", "--cid", "abcd01", "next")
    assert r.code == 0, r.stderr
    assert outside.read_bytes() == before
    new = [p for p in conversations(isolated) if not p.is_symlink()]
    assert len(new) == 1
    assert [r["content"] for r in read_jsonl(new[0]) if r.get("type") == "message"] == [
        "old question",
        "next",
        "echo: next",
    ]


def test_server_reply_with_odd_text_round_trips(server, gptcli, isolated: Path) -> None:
    """NULs, lone CRs, escapes and astral characters from the server reach stdout and the log intact."""
    text = "nul\x00 cr\r esc\x1b[31m 𝔘𝔫𝔦 \u2028 end"
    server.enqueue(Reply(text=text))
    r = gptcli("ask", "hi")
    assert r.code == 0, r.stderr
    assert r.stdout == text + "\n"
    (path,) = conversations(isolated)
    assert read_jsonl(path)[-1]["content"] == text


def test_batch_refuses_utf16_and_binary_lines(server, gptcli, tmp_path: Path) -> None:
    """A prompt file saved as UTF-16 (PowerShell's `>`) is valid UTF-8 byte by byte, NULs and all:
    it must not become garbage prompts that cost money."""
    src = tmp_path / "prompts.txt"
    src.write_bytes("first prompt\r\nsecond prompt\r\n".encode("utf-16"))
    r = gptcli("batch", str(src), "-o", str(tmp_path / "out.jsonl"))
    assert server.chat_requests() == []
    assert r.stderr.count("looks binary") == 3 and "Traceback" not in r.stderr
    r = gptcli("batch", str(src), "--strict")
    assert r.code == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("gptcli: error: ") and "looks binary" in lines[-1]
    assert server.chat_requests() == []
