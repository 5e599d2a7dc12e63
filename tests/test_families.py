"""Model families and OpenAI-compatible servers: the request that actually arrived, per rule.

The family rules (client.RULES) are checked twice: as a pure function over many model
names (fast), and end to end through `gptcli ask` against the loopback server, where
the body the server received is what is asserted. Then: the second chance, other
servers' switches ([params], --param, [headers], include_usage, token_limit_param),
proxies, timeouts and retries, structured output, n and stop, and the built-in
`reasoning` and `local` profiles.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, SECRET_KEY, conversations, read_jsonl
from fakeserver import Reply
from gptcli import client
from gptcli.models import Profile

MESSAGES = [{"role": "user", "content": "hi"}]


def user_profile(home: Path, name: str, text: str) -> None:
    d = home / "gptcli" / "config" / "profiles"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.toml").write_text(text, encoding="utf-8")


def sent(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("messages", "stream", "stream_options")}


# --- the table as a pure function -------------------------------------------------------

EVERYTHING = {
    "temperature": 0.5,
    "top_p": 0.9,
    "max_tokens": 100,
    "stop": ("END",),
    "presence_penalty": 0.1,
    "frequency_penalty": 0.2,
    "params": {"logit_bias": {"50256": -100}, "logprobs": True, "top_logprobs": 2},
}
PENALTIES = {"presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs"}


@pytest.mark.parametrize(
    ("model", "effort", "kept", "dropped"),
    [
        # OpenAI reasoning models (on another server: max_tokens, issue 15); sampling, penalties, logprobs out.
        ("o1", "high", {"max_tokens", "stop", "reasoning_effort"}, {"temperature", "top_p"} | PENALTIES),
        ("o3-mini", "low", {"max_tokens", "stop", "reasoning_effort"}, PENALTIES),
        ("o3", "medium", {"max_tokens", "reasoning_effort"}, {"stop", "temperature"} | PENALTIES),
        ("o4-mini-2025-04-16", "high", {"max_tokens", "reasoning_effort"}, {"stop"} | PENALTIES),
        ("openai/o3", "low", {"max_tokens", "reasoning_effort"}, {"stop"}),  # OpenRouter-style name
        ("gpt-5-mini", "minimal", {"max_tokens", "reasoning_effort"}, {"stop", "top_p"} | PENALTIES),
        ("gpt-5.1", "low", {"max_tokens", "reasoning_effort"}, {"temperature", "stop"} | PENALTIES),
        ("gpt-5.2", "xhigh", {"max_tokens", "reasoning_effort"}, {"temperature"}),
        ("gpt-5.6-terra", "max", {"max_tokens", "reasoning_effort"}, {"temperature"}),
        ("gpt-6-astra", "max", {"max_tokens", "reasoning_effort"}, {"temperature", "stop"}),
        # Values a family does not take are left out.
        ("o3", "minimal", {"max_tokens"}, {"reasoning_effort"}),
        ("gpt-5", "none", {"max_tokens"}, {"reasoning_effort", "temperature"}),
        ("gpt-5.1", "xhigh", {"max_tokens"}, {"reasoning_effort"}),
        ("gpt-6", "none", {"max_tokens"}, {"reasoning_effort"}),
        # Plain chat models: everything kept except reasoning_effort; max_tokens off OpenAI's host.
        ("gpt-4o", "high", {"max_tokens", "temperature", "stop"} | PENALTIES, {"reasoning_effort"}),
        ("ft:gpt-4o-mini:acme::abc123", "low", {"max_tokens", "temperature"}, {"reasoning_effort"}),
        ("gpt-5-chat-latest", "low", {"max_tokens", "temperature", "stop"} | PENALTIES, {"reasoning_effort"}),
        # Open-weight and third-party models: sent as given.
        ("gpt-oss-20b", "high", {"max_tokens", "temperature", "reasoning_effort"}, set()),
        ("gpt-oss-20b", "xhigh", {"max_tokens", "temperature"}, {"reasoning_effort"}),
        ("llama3.2", "whatever", {"max_tokens", "temperature", "stop", "reasoning_effort"} | PENALTIES, set()),
    ],
)
def test_family_rules(model: str, effort: str, kept: set[str], dropped: set[str]) -> None:
    profile = Profile(model=model, base_url="http://127.0.0.1:9/v1", reasoning_effort=effort, **EVERYTHING)
    built = client.build_body(profile, MESSAGES, stream=False)
    body = sent(built.body)
    assert kept <= set(body), (model, body)
    assert not dropped & set(body), (model, body)
    for key in dropped:
        assert any(note.startswith(key) for note in built.notes), (key, built.notes)
    if "max_completion_tokens" in body:
        assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
        assert any("max_tokens sent as max_completion_tokens" in note for note in built.notes)


def test_effort_none_lets_sampling_back_on_gpt_5_1_plus() -> None:
    profile = Profile(model="gpt-5.4", reasoning_effort="none", **EVERYTHING)
    body = sent(client.build_body(profile, MESSAGES, stream=False).body)
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["logprobs"] is True
    assert "presence_penalty" not in body and "stop" not in body


def test_token_limit_name_by_host_and_switch() -> None:
    def limit(**kw: Any) -> set[str]:
        body = client.build_body(Profile(max_tokens=5, **kw), MESSAGES, stream=False).body
        return {k for k in body if k.startswith("max_")}

    assert limit(model="gpt-4o") == {"max_completion_tokens"}  # OpenAI's host: the current name
    assert limit(model="gpt-4o", base_url="http://localhost:11434/v1") == {"max_tokens"}
    assert limit(model="o3", base_url="https://example.openai.azure.com/v1") == {"max_completion_tokens"}
    assert limit(model="llama3", base_url="http://x/v1", token_limit_param="max_completion_tokens") == {
        "max_completion_tokens"
    }
    assert limit(model="o3", base_url="http://x/v1", token_limit_param="max_tokens") == {"max_tokens"}
    # Any other server gets max_tokens, reasoning model or not (Ollama ignores the other name).
    assert limit(model="o3-mini", base_url="http://localhost:4000/v1") == {"max_tokens"}
    # A limit in [params] under either name is one limit, sent under the right name.
    body = client.build_body(
        Profile(model="o3", params={"max_completion_tokens": 7}, base_url="http://x/v1"), MESSAGES, stream=False
    ).body
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body


def test_doc_table_matches_the_code() -> None:
    doc = (ROOT / "docs" / "model-families.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- rules:start -->\n(.*?)<!-- rules:end -->", doc, re.DOTALL)
    assert match, "docs/model-families.md lost its <!-- rules:start/end --> markers"
    assert match.group(1) == client.rules_markdown(), (
        "docs/model-families.md is out of date: paste the output of "
        "python -c 'from gptcli.client import rules_markdown; print(rules_markdown(), end=\"\")'"
    )


# --- end to end: what arrived ---------------------------------------------------------------


def test_reasoning_rules_arrive_and_are_named_and_logged(server, gptcli, isolated: Path) -> None:
    r = gptcli(
        "ask",
        "-v",
        "-m",
        "o3",
        "-t",
        "0.5",
        "--top-p",
        "0.9",
        "--max-tokens",
        "100",
        "--stop",
        "END",
        "--reasoning-effort",
        "high",
        "--param",
        'logit_bias={"50256": -100}',
        "--param",
        "logprobs=true",
        "--seed",
        "3",
        "hi",
    )
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"
    (body,) = server.chat_requests()
    assert sent(body) == {"model": "o3", "max_tokens": 100, "reasoning_effort": "high", "seed": 3}
    for name in ("temperature", "top_p", "stop", "logit_bias", "logprobs"):
        assert name in r.stderr
    (path,) = conversations(isolated)
    notes = [rec["text"] for rec in read_jsonl(path) if rec["type"] == "note" and rec.get("kind") == "parameter"]
    assert len(notes) == 5 and any(n.startswith("stop dropped") for n in notes)
    # Without -v a pipe gets the answer and nothing else.
    quiet = gptcli("ask", "-m", "o3", "-t", "0.5", "hi")
    assert quiet.code == 0 and quiet.stderr == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("-m", "gpt-4o", "-t", "0.3", "--max-tokens", "10", "--reasoning-effort", "high", "--stop", "X"),
            {"model": "gpt-4o", "temperature": 0.3, "max_tokens": 10, "stop": ["X"]},
        ),
        (
            ("-m", "o3-mini", "-t", "1", "--stop", "X", "--reasoning-effort", "low"),
            {"model": "o3-mini", "temperature": 1, "stop": ["X"], "reasoning_effort": "low"},
        ),
        (
            ("-m", "gpt-5", "-t", "0.2", "--stop", "X", "--reasoning-effort", "minimal", "--max-tokens", "50"),
            {"model": "gpt-5", "reasoning_effort": "minimal", "max_tokens": 50},
        ),
        (
            ("-m", "gpt-5.1", "-t", "0.2", "--reasoning-effort", "none"),
            {"model": "gpt-5.1", "temperature": 0.2, "reasoning_effort": "none"},
        ),
        (
            ("-m", "llama3.2", "-t", "0.2", "--reasoning-effort", "high", "--max-tokens", "9"),
            {"model": "llama3.2", "temperature": 0.2, "reasoning_effort": "high", "max_tokens": 9},
        ),
    ],
)
def test_what_arrives_per_family(server, gptcli, args: tuple[str, ...], expected: dict[str, Any]) -> None:
    r = gptcli("ask", "--no-log", *args, "hi")
    assert r.code == 0, r.stderr
    (body,) = server.chat_requests()
    assert sent(body) == expected


# --- the second chance -------------------------------------------------------------------------


def test_second_chance_drops_the_named_parameter_once(server, gptcli, isolated: Path) -> None:
    server.reject_params = {"seed": "unsupported_parameter"}
    r = gptcli("ask", "--seed", "7", "-t", "0.5", "hi")
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: hi\n"
    first, second = server.chat_requests()
    assert first["seed"] == 7 and "seed" not in second
    assert second["temperature"] == 0.5  # only the named parameter goes
    assert "rejected 'seed'" in r.stderr and "retrying once" in r.stderr  # a notice even without -v
    (path,) = conversations(isolated)
    assert any("rejected 'seed'" in rec.get("text", "") for rec in read_jsonl(path) if rec["type"] == "note")


def test_second_chance_does_not_loop(server, gptcli, isolated: Path) -> None:
    server.reject_params = {"seed": "unsupported_parameter", "top_p": "unsupported_value"}
    r = gptcli("ask", "--seed", "7", "--top-p", "0.5", "hi")
    assert r.code == 1
    assert len(server.chat_requests()) == 2  # one retry, then the error
    assert "top_p" in r.stderr and "rejected 'seed'" in r.stderr
    assert "Traceback" not in r.stderr and SECRET_KEY not in r.stderr
    (path,) = conversations(isolated)
    kinds = [rec.get("kind") for rec in read_jsonl(path) if rec["type"] == "note"]
    assert kinds == ["parameter", "error"]


def test_second_chance_renames_a_refused_token_limit(server, gptcli) -> None:
    server.reject_params = {"max_tokens": "unsupported_parameter"}
    r = gptcli("ask", "-m", "my-model", "--max-tokens", "3", "--no-log", "one two three four five")
    assert r.code == 0, r.stderr
    first, second = server.chat_requests()
    assert first["max_tokens"] == 3 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 3 and "max_tokens" not in second  # the limit still holds
    assert r.stdout == "echo: one two \n"  # cut at 3 "tokens" of the fake server
    assert 'token_limit_param = "max_completion_tokens"' in r.stderr


def test_second_chance_on_a_pydantic_422(server, gptcli) -> None:
    # Mistral's shape: 422 extra_forbidden for stream_options.
    detail = [
        {
            "type": "extra_forbidden",
            "loc": ["body", "stream_options", "include_usage"],
            "msg": "Extra inputs are not permitted",
            "input": True,
        }
    ]
    server.enqueue(
        Reply(
            status=422,
            error={
                "error": {
                    "object": "error",
                    "message": {"detail": detail},
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        )
    )
    r = gptcli("ask", "--no-log", "hi")
    assert r.code == 0, r.stderr
    first, second = server.chat_requests()
    assert "stream_options" in first and "stream_options" not in second and second["stream"] is True
    assert "include_usage = false" in r.stderr


def test_no_second_chance_for_other_errors(server, gptcli) -> None:
    server.enqueue(
        Reply(
            status=400,
            error={
                "message": "Invalid 'stop': array too long.",
                "type": "x",
                "param": "stop",
                "code": "array_above_max_length",
            },
        )
    )
    r = gptcli("ask", "--no-log", "--stop", "X", "hi")
    assert r.code == 1 and len(server.chat_requests()) == 1
    assert "array too long" in r.stderr


# --- other servers ---------------------------------------------------------------------------


def test_profile_switches_params_and_headers_reach_the_server(server, gptcli, isolated: Path) -> None:
    user_profile(
        isolated,
        "router",
        'model = "meta-llama/llama-3.3-70b"\n'
        "include_usage = false\n"
        'token_limit_param = "max_completion_tokens"\n'
        "max_tokens = 64\n"
        "[params]\ntop_k = 40\nmin_p = 0.05\n"
        '[headers]\n"HTTP-Referer" = "https://example.org/gptcli"\n"X-Title" = "gptcli tests"\n'
        '"X-Api-Key" = "hdr-secret-123"\n',
    )
    r = gptcli(
        "ask",
        "-p",
        "router",
        "--param",
        "min_p=0.1",
        "--param",
        'tags=["a", "b"]',
        "--param",
        "mode=fast",
        "--param",
        'provider={"order": ["x"]}',
        "hi",
    )
    assert r.code == 0, r.stderr
    (body,) = server.chat_requests()
    assert body["stream"] is True and "stream_options" not in body  # include_usage = false
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert body["top_k"] == 40 and body["min_p"] == 0.1  # --param wins over [params], key by key
    assert body["tags"] == ["a", "b"] and body["mode"] == "fast" and body["provider"] == {"order": ["x"]}
    headers = server.requests[-1].headers
    assert headers["http-referer"] == "https://example.org/gptcli"
    assert headers["x-title"] == "gptcli tests" and headers["x-api-key"] == "hdr-secret-123"
    (path,) = conversations(isolated)
    log = path.read_text(encoding="utf-8")
    assert "hdr-secret-123" not in log and SECRET_KEY not in log
    assert read_jsonl(path)[0]["settings"]["headers"]["X-Title"] == "gptcli tests"


def test_a_bad_param_is_a_usage_error(server, gptcli) -> None:
    r = gptcli("ask", "--param", "novalue", "hi")
    assert r.code == 2 and "KEY=VALUE" in r.stderr
    assert server.chat_requests() == []


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: absolute-form request lines, relayed whole."""

    seen: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        hop = {"proxy-connection", "connection", "keep-alive", "transfer-encoding", "host"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), data, headers)
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in hop | {"content-length"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        conn.close()

    do_GET = do_POST = _relay


@pytest.fixture
def proxy() -> Iterator[Any]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_http_proxy_from_the_environment(server, gptcli, proxy) -> None:
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}", "NO_PROXY": "", "no_proxy": ""}
    r = gptcli("ask", "--no-log", "through the proxy", env=env)
    assert r.code == 0, r.stderr
    assert r.stdout == "echo: through the proxy\n"
    assert proxy.seen == [f"POST {server.url}/chat/completions"]
    assert len(server.chat_requests()) == 1
    r = gptcli("models", "--json", env=env)
    assert r.code == 0, r.stderr
    assert proxy.seen[-1] == f"GET {server.url}/models"
    # NO_PROXY still wins when it names the host.
    r = gptcli("ask", "--no-log", "direct", env={**env, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    assert r.code == 0 and len(proxy.seen) == 2


def test_timeout_and_retries_per_profile(server, gptcli, isolated: Path) -> None:
    user_profile(isolated, "impatient", "timeout = 0.5\nmax_retries = 0\n")
    server.enqueue(Reply(hang=True))
    r = gptcli("ask", "-p", "impatient", "--no-log", "hi", timeout=20)
    assert r.code == 6, r.stderr
    assert "timed out after 0.5 s" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert len(server.chat_requests()) == 1  # max_retries = 0: no second try
    server.clear()
    user_profile(isolated, "patient", "max_retries = 1\n")
    server.enqueue(Reply(status=503, headers={"retry-after-ms": "1"}))
    r = gptcli("ask", "-p", "patient", "--no-log", "hi")
    assert r.code == 0, r.stderr
    assert len(server.chat_requests()) == 2  # one retry, then the answer
    server.clear()
    server.enqueue(Reply(status=503, headers={"retry-after-ms": "1"}), times=5)
    r = gptcli("ask", "-p", "patient", "--no-log", "hi")
    assert r.code == 6 and len(server.chat_requests()) == 2


# --- structured output ---------------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_json_object(server, gptcli) -> None:
    server.enqueue(Reply(text='```json\n{"ok": true, "城市": "北京"}\n```'))
    r = gptcli("ask", "--json-object", "-v", "Name a city")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"ok": True, "城市": "北京"}  # the fence a local model added is gone
    (body,) = server.chat_requests()
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][-1]["content"] == "Name a city\n\nRespond in JSON."  # OpenAI wants the word
    assert "Respond in JSON" in r.stderr
    server.enqueue(Reply(text="[1, 2]"))
    r = gptcli("ask", "--json-object", "List as JSON")
    assert r.code == 9 and r.stdout == ""
    assert "not a JSON object" in r.stderr
    assert server.chat_requests()[-1]["messages"][-1]["content"] == "List as JSON"  # already says JSON


def test_schema_checked_before_printing(server, gptcli, tmp_path: Path, isolated: Path) -> None:
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(PERSON), encoding="utf-8")
    server.enqueue(Reply(text='{"name": "Ada", "age": 36}'))
    r = gptcli("ask", "--schema", str(schema), "Invent a person")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"name": "Ada", "age": 36}
    (body,) = server.chat_requests()
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }
    # Streamed, but nothing printed: the reply fails the schema.
    server.enqueue(Reply(text='{"name": "Ada", "age": "old"}'))
    r = gptcli("ask", "--schema", str(schema), "Invent a person")
    assert r.code == 9 and r.stdout == ""
    assert "does not match the schema" in r.stderr and "$.age" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # The reply is not lost: it is in the log.
    kept = [rec for p in conversations(isolated) for rec in read_jsonl(p) if rec.get("role") == "assistant"]
    assert '{"name": "Ada", "age": "old"}' in [rec["content"] for rec in kept]
    assert len(kept) == 2
    # Cut off at the limit: invalid JSON, and the message says why.
    server.enqueue(Reply(text='{"name": "Ada", "age": 36}'))
    r = gptcli("ask", "--schema", str(schema), "--max-tokens", "1", "--json", "Invent a person")
    assert r.code == 9 and r.stdout == ""
    assert "not valid JSON" in r.stderr and "--max-tokens" in r.stderr


def test_schema_wrapper_form_n_choices_and_dry_run(server, gptcli, tmp_path: Path) -> None:
    wrapper = tmp_path / "w.json"
    wrapper.write_text(json.dumps({"name": "my schema!", "strict": False, "schema": {"type": "object"}}))
    server.enqueue(Reply(text='{"a": 1}'))
    r = gptcli("ask", "--schema", str(wrapper), "-n", "2", "--json", "go")
    # The fake server appends " [1]" to the second choice: it is not JSON, and that choice is named.
    assert r.code == 9 and "choice 2" in r.stderr
    body = server.chat_requests()[0]
    assert body["response_format"]["json_schema"] == {
        "name": "my_schema",
        "schema": {"type": "object"},
        "strict": False,
    }
    d = gptcli("ask", "--dry-run", "--schema", str(wrapper), "go").json()
    assert d["body"]["response_format"]["type"] == "json_schema"
    assert len(server.chat_requests()) == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not valid JSON"), ('{"type": "bogus"}', "not a valid JSON Schema"), ("[1]", "JSON object")],
)
def test_a_bad_schema_file_is_refused_before_sending(server, gptcli, tmp_path: Path, content, needle) -> None:
    f = tmp_path / "s.json"
    f.write_text(content)
    r = gptcli("ask", "--schema", str(f), "hi")
    assert r.code == 2 and needle in r.stderr
    assert server.chat_requests() == []
    r = gptcli("ask", "--schema", str(tmp_path / "missing.json"), "hi")
    assert r.code == 2 and "no such file" in r.stderr
    r = gptcli("ask", "--schema", str(f), "--json-object", "hi")
    assert r.code == 2


# --- n and stop --------------------------------------------------------------------------------


def test_n_and_four_stops_work_five_are_refused(server, gptcli, isolated: Path) -> None:
    stops = [arg for s in ("<1>", "<2>", "<3>", "<4>") for arg in ("--stop", s)]
    r = gptcli("ask", "-n", "3", *stops, "--json", "--no-log", "hi")
    assert r.code == 0, r.stderr
    assert r.json()["text"] == ["echo: hi", "echo: hi [1]", "echo: hi [2]"]
    (body,) = server.chat_requests()
    assert body["n"] == 3 and body["stop"] == ["<1>", "<2>", "<3>", "<4>"]
    r = gptcli("ask", *stops, "--stop", "<5>", "hi")
    assert r.code == 2 and "at most 4" in r.stderr
    user_profile(isolated, "stoppy", 'stop = ["a", "b", "c", "d", "e"]\n')
    r = gptcli("ask", "-p", "stoppy", "hi")
    assert r.code == 3 and "stoppy.toml" in r.stderr and "at most 4" in r.stderr
    assert len(server.chat_requests()) == 1


# --- the built-in reasoning and local profiles ------------------------------------------------


def test_reasoning_profile_dry_run(gptcli) -> None:
    r = gptcli("ask", "-p", "reasoning", "--dry-run", "-t", "0.5", "Why is the sky blue?")
    assert r.code == 0, r.stderr
    d = r.json()
    assert d["url"] == "https://api.openai.com/v1/chat/completions"
    assert sent(d["body"]) == {"model": "o4-mini", "reasoning_effort": "medium", "max_completion_tokens": 16000}
    assert any(n.startswith("temperature=0.5 dropped") for n in d["notes"])
    # The same profile moved to a chat model: no reasoning_effort.
    d = gptcli("ask", "-p", "reasoning", "-m", "gpt-4.1", "--dry-run", "hi").json()
    assert sent(d["body"]) == {"model": "gpt-4.1", "max_completion_tokens": 16000}
    assert any("not a reasoning model" in n for n in d["notes"])


def test_local_profile_against_a_loopback_server(server, gptcli, isolated: Path) -> None:
    r = gptcli(
        "ask",
        "-p",
        "local",
        "--base-url",
        server.url,
        "--max-tokens",
        "20",
        "--json",
        "你好",
        env={"OPENAI_API_KEY": ""},
    )
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["text"] == "echo: 你好" and data["cost"] == 0  # local models are free: $0, not "unknown"
    (body,) = server.chat_requests()
    assert body["model"] == "llama3.2" and body["max_tokens"] == 20 and "max_completion_tokens" not in body
    assert server.requests[-1].headers["authorization"] == f"Bearer {client.PLACEHOLDER_KEY}"  # no key needed
    # A user profile that extends the built-in one, as a user pointing it elsewhere would.
    user_profile(isolated, "local", f'extends = "local"\nbase_url = "{server.url}"\nmodel = "qwen3"\n')
    r = gptcli("ask", "-p", "local", "-t", "0.1", "--reasoning-effort", "low", "hi")
    assert r.code == 0, r.stderr
    assert sent(server.chat_requests()[-1]) == {"model": "qwen3", "temperature": 0.1, "reasoning_effort": "low"}


def test_readme_server_profiles_are_valid(tmp_path: Path) -> None:
    from gptcli import profiles

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Models and servers") :]
    section = section[: section.index("\n## ", 5)]
    blocks = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    assert len(blocks) >= 4  # Ollama, vLLM, LM Studio, OpenRouter
    for block in blocks:
        name = re.match(r"# (\w+)\.toml", block).group(1)  # type: ignore[union-attr]
        path = tmp_path / f"{name}.toml"
        path.write_text(block, encoding="utf-8")
        data = profiles.read_file(profiles.ProfileFile(name, path, False))
        assert "base_url" in data and "model" in data
