"""Tests for tests/fakeserver.py, the loopback OpenAI-compatible test server.

They talk to it over real HTTP with urllib only, so they check the wire
format that gptcli (and the openai SDK) will see, independent of gptcli.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Import by path so the tests work whatever pytest's import mode or rootdir.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakeserver import FakeServer, Reply, markdown_tokens, split_pieces

MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "hello there world"},
]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv
        assert srv.errors == []


def request(
    url: str,
    body: Any = None,
    *,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 10,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """(status, headers, body) of one request; HTTP errors are returned too."""
    if body is not None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def chat(server: FakeServer, **params: Any) -> tuple[int, http.client.HTTPMessage, bytes]:
    body = {"model": "gpt-4o", "messages": MESSAGES, **params}
    return request(server.url + "/chat/completions", body)


def sse_payloads(raw: bytes) -> list[str]:
    """The data: payloads of an SSE body, in order."""
    return [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]


def test_non_streamed_reply(server: FakeServer) -> None:
    status, headers, raw = chat(server)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(raw)
    body = json.loads(raw)
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o"
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "echo: hello there world",
        "refusal": None,
        "annotations": [],
    }
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    # 3 + sum(3 + words) = 3 + 5 + 5 + 5 + 6
    assert usage["prompt_tokens"] == 24
    assert usage["completion_tokens"] == 4
    assert usage["total_tokens"] == 28
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0

    (rec,) = server.requests
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.headers["content-type"] == "application/json"
    assert rec.body["messages"] == MESSAGES
    assert json.loads(rec.raw) == rec.body
    assert server.chat_requests() == [rec.body]
    server.clear()
    assert server.requests == []


def test_stream_without_usage_chunk(server: FakeServer) -> None:
    status, headers, raw = chat(server, stream=True)
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Transfer-Encoding"] == "chunked"
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("usage" not in c for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "echo: hello there world"
    # role chunk + one chunk per word + the finish chunk
    assert len(chunks) == 1 + 4 + 1
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_stream_with_usage_chunk(server: FakeServer) -> None:
    server.enqueue(Reply(tokens=50))
    _, _, raw = chat(server, stream=True, stream_options={"include_usage": True})
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 50
    assert usage_chunk["usage"]["total_tokens"] == 24 + 50
    assert all(c["usage"] is None for c in chunks[:-1])
    contents = [
        c["choices"][0]["delta"]["content"]
        for c in chunks[1:-2]  # skip the role, finish and usage chunks
    ]
    assert contents == markdown_tokens(50)
    assert all(f"word{i}" in piece for i, piece in enumerate(contents))


def test_markdown_tokens_look_like_markdown() -> None:
    text = "".join(markdown_tokens(200))
    assert text.startswith("# word0 ")
    assert "\n\n## " in text and "\n- word" in text
    assert "```python\n" in text and text.count("```") % 2 == 0
    assert "".join(markdown_tokens(79)).count("```") == 2  # cut-off fence closed
    assert split_pieces("  a b\n c ") == ["  a ", "b\n ", "c "]


def test_n_two_choices(server: FakeServer) -> None:
    _, _, raw = chat(server, n=2)
    body = json.loads(raw)
    texts = [c["message"]["content"] for c in body["choices"]]
    assert texts == ["echo: hello there world", "echo: hello there world [1]"]
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["usage"]["completion_tokens"] == 4 + 5

    _, _, raw = chat(server, n=2, stream=True)
    chunks = [json.loads(p) for p in sse_payloads(raw)[:-1]]
    streamed = ["", ""]
    finishes = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            streamed[choice["index"]] += choice["delta"].get("content") or ""
            if choice["finish_reason"]:
                finishes[choice["index"]] = choice["finish_reason"]
    assert streamed == texts
    assert finishes == {0: "stop", 1: "stop"}


def test_stop_sequence(server: FakeServer) -> None:
    _, _, raw = chat(server, stop=["there", "zzz"])
    choice = json.loads(raw)["choices"][0]
    assert choice["message"]["content"] == "echo: hello "
    assert choice["finish_reason"] == "stop"

    server.enqueue(Reply(text="alpha beta gamma", finish_reason="length"))
    _, _, raw = chat(server, stop="ta g", stream=True)
    chunks = [json.loads(p) for p in sse_payloads(raw)[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "alpha be"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_max_tokens(server: FakeServer, param: str) -> None:
    server.enqueue(Reply(tokens=100))
    _, _, raw = chat(server, **{param: 7})
    body = json.loads(raw)
    assert body["choices"][0]["message"]["content"] == "".join(markdown_tokens(7))
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 7


def test_enqueued_429_with_retry_after(server: FakeServer) -> None:
    server.enqueue(Reply(status=429, headers={"Retry-After": "1"}), times=2)
    for _ in range(2):
        status, headers, raw = chat(server)
        assert status == 429
        assert headers["Retry-After"] == "1"
        error = json.loads(raw)["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert set(error) == {"message", "type", "param", "code"}
    status, _, _ = chat(server)  # the queue is empty: default behaviour
    assert status == 200
    assert server.pending == 0
    assert len(server.chat_requests()) == 3


def test_scripted_error_body_and_overrides(server: FakeServer) -> None:
    custom = {
        "error": {
            "message": "boom",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    server.enqueue(Reply(status=503, error=custom))
    status, _, raw = chat(server)
    assert (status, json.loads(raw)) == (503, custom)

    server.default = Reply(text="fixed", model="gpt-4o-2024-08-06", usage={"prompt_tokens": 1})
    body = json.loads(chat(server)[2])
    assert body["choices"][0]["message"]["content"] == "fixed"
    assert body["model"] == "gpt-4o-2024-08-06"
    assert body["usage"]["prompt_tokens"] == 1
    assert body["usage"]["total_tokens"] == 2


def test_reject_params(server: FakeServer) -> None:
    server.reject_params = {
        "max_tokens": "unsupported_parameter",
        "temperature": "unsupported_value",
    }
    server.enqueue(Reply(text="kept for later"))
    status, _, raw = chat(server, max_tokens=5)
    assert status == 400
    assert json.loads(raw) == {
        "error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this "
            "model. Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
    }
    status, _, raw = chat(server, temperature=0.7)
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["message"] == (
        "Unsupported value: 'temperature' does not support 0.7 with this model. "
        "Only the default (1) value is supported."
    )
    assert (error["param"], error["code"]) == ("temperature", "unsupported_value")
    # Rejected requests do not consume the scripted reply.
    body = json.loads(chat(server, max_completion_tokens=5)[2])
    assert body["choices"][0]["message"]["content"] == "kept for later"


def test_known_models_context_window_and_key(server: FakeServer) -> None:
    server.known_models = ["gpt-4o", "o3"]
    status, _, raw = chat(server, model="gpt-9")
    assert status == 404
    assert json.loads(raw)["error"] == {
        "message": "The model `gpt-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    models = json.loads(request(server.url + "/models")[2])
    assert [m["id"] for m in models["data"]] == ["gpt-4o", "o3"]
    assert models["data"][0]["owned_by"] == "fake"

    server.context_window = 10
    status, _, raw = chat(server)
    assert status == 400
    assert json.loads(raw)["error"]["code"] == "context_length_exceeded"
    server.context_window = None

    server.require_key = "sk-abcdef123456xyz"
    status, _, raw = chat(server)
    assert status == 401
    status, _, raw = request(server.url + "/models", headers={"Authorization": "Bearer sk-abwrongkeyxyz"})
    error = json.loads(raw)["error"]
    assert (status, error["code"]) == (401, "invalid_api_key")
    assert "Incorrect API key provided: sk-ab***xyz" in error["message"]
    good = {"Authorization": "Bearer sk-abcdef123456xyz"}
    assert request(server.url + "/models", headers=good)[0] == 200
    assert request(server.url + "/nope", headers=good)[0] == 404


def test_drop_after_streaming(server: FakeServer) -> None:
    server.enqueue(Reply(tokens=20, drop_after=3))
    req = urllib.request.Request(
        server.url + "/chat/completions",
        data=json.dumps({"model": "gpt-4o", "messages": MESSAGES, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
    payloads = sse_payloads(info.value.partial)
    assert "[DONE]" not in payloads
    contents = [json.loads(p)["choices"][0]["delta"].get("content") for p in payloads]
    assert contents == ["", *markdown_tokens(3)]


def test_drop_after_non_streaming(server: FakeServer) -> None:
    server.enqueue(Reply(drop_after=0))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        request(server.url + "/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
    assert len(server.chat_requests()) == 1  # recorded even though never answered


def test_malformed_replies(server: FakeServer) -> None:
    server.enqueue(Reply(malformed="json"))
    status, _, raw = chat(server)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(raw)
    server.enqueue(Reply(malformed="sse"))
    _, _, raw = chat(server, stream=True)
    payloads = sse_payloads(raw)
    bad = [p for p in payloads if p != "[DONE]" and not _is_json(p)]
    assert len(bad) == 1


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_hang_and_delay(server: FakeServer) -> None:
    server.enqueue(Reply(hang=True))
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        chat_timeout = 0.3
        request(
            server.url + "/chat/completions",
            {"model": "gpt-4o", "messages": MESSAGES},
            timeout=chat_timeout,
        )
    server.enqueue(Reply(delay=0.2))
    start = time.monotonic()
    assert chat(server)[0] == 200
    assert time.monotonic() - start >= 0.2


def test_reset_restores_defaults_and_releases_hangs(server: FakeServer) -> None:
    server.enqueue(Reply(hang=True))
    server.enqueue(Reply(status=500))
    server.known_models = ["o3"]
    server.require_key = "sk-key"
    server.add_file(b"{}\n")
    errors: list[BaseException] = []

    def hung() -> None:
        try:
            request(
                server.url + "/chat/completions",
                {"model": "o3", "messages": MESSAGES},
                headers={"Authorization": "Bearer sk-key"},
            )
        except Exception as exc:  # the reset closes it unanswered
            errors.append(exc)

    thread = threading.Thread(target=hung)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    server.reset()
    thread.join(5)
    assert not thread.is_alive() and len(errors) == 1
    assert (server.requests, server.pending, server.files()) == ([], 0, [])
    assert (server.known_models, server.require_key, server.default) == (None, None, Reply())
    assert chat(server)[0] == 200


def test_concurrent_connections(server: FakeServer) -> None:
    server.default = Reply(delay=0.2)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        status = chat(server)[0]
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(64)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # All 64 delays overlap: far less than 64 * 0.2 s.
    assert time.monotonic() - start < 3
    assert statuses == [200] * 64


def _multipart(fields: dict[str, tuple[str | None, bytes]]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    out = b""
    for name, (filename, data) in fields.items():
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


def test_batch_flow(server: FakeServer) -> None:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "fail-model" if i == 1 else "gpt-4o",
                "messages": [{"role": "user", "content": f"question {i} é"}],
            },
        }
        for i in range(3)
    ]
    content = b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)
    ctype, data = _multipart({"purpose": (None, b"batch"), "file": ("in.jsonl", content)})
    status, _, raw = request(server.url + "/files", data=data, headers={"Content-Type": ctype})
    assert status == 200
    file_obj = json.loads(raw)
    assert file_obj["id"].startswith("file-")
    assert (file_obj["purpose"], file_obj["bytes"]) == ("batch", len(content))
    assert request(server.url + f"/files/{file_obj['id']}/content")[2] == content
    assert json.loads(request(server.url + f"/files/{file_obj['id']}")[2]) == file_obj

    status, _, raw = request(
        server.url + "/batches",
        {
            "input_file_id": file_obj["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    )
    batch = json.loads(raw)
    assert (status, batch["status"], batch["object"]) == (200, "validating", "batch")

    polled = [json.loads(request(server.url + f"/batches/{batch['id']}")[2]) for _ in range(3)]
    assert [b["status"] for b in polled] == ["in_progress", "completed", "completed"]
    done = polled[-1]
    assert done["request_counts"] == {"total": 3, "completed": 2, "failed": 1}

    out_raw = request(server.url + f"/files/{done['output_file_id']}/content")[2]
    outputs = [json.loads(line) for line in out_raw.splitlines()]
    assert [o["custom_id"] for o in outputs] == ["req-0", "req-2"]
    assert outputs[0]["error"] is None
    assert outputs[0]["response"]["status_code"] == 200
    message = outputs[0]["response"]["body"]["choices"][0]["message"]
    assert message["content"] == "echo: question 0 é"

    err_raw = request(server.url + f"/files/{done['error_file_id']}/content")[2]
    (err,) = [json.loads(line) for line in err_raw.splitlines()]
    assert err["custom_id"] == "req-1"
    assert err["response"]["status_code"] == 404
    assert err["response"]["body"]["error"]["code"] == "model_not_found"

    # A second batch can be cancelled while it is still pending.
    status, _, raw = request(
        server.url + "/batches",
        {
            "input_file_id": file_obj["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    )
    other = json.loads(raw)["id"]
    cancelled = json.loads(request(server.url + f"/batches/{other}/cancel", method="POST")[2])
    assert cancelled["status"] == "cancelling"
    assert json.loads(request(server.url + f"/batches/{other}")[2])["status"] == "cancelled"


def test_script_mode() -> None:
    script = Path(__file__).resolve().parent / "fakeserver.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--tokens", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        _, _, raw = request(url + "/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
        assert json.loads(raw)["usage"]["completion_tokens"] == 30
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == ""  # quiet: no access log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
