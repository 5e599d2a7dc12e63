"""gptcli against llama.cpp's server, as llama-cpp-python ships it, with a tiny random model.

    python bench/compat/server_llamacpp.py [--venv DIR] [--only CHECK,...] [--no-fixtures]

Installs ``llama-cpp-python[server]`` and ``gguf`` into their own venv when missing
(default ``bench/.venvs/llamacpp``; compiling llama.cpp takes 15 minutes to well over an hour on two cores,
so it builds with one job: ``CMAKE_BUILD_PARALLEL_LEVEL=1``), writes a tiny model with
``make_tiny_gguf.py`` (random weights: the replies are random words, which is all the
protocol checks need), starts ``python -m llama_cpp.server`` on 127.0.0.1 with an API key
and a 512-token context, runs the checks, and writes ``bench/compat/results/llamacpp.json``
and the error bodies to ``tests/fixtures/servers/llamacpp/``. The server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import checks
import harness
import runner
import verdicts
from harness import Check, Server

NAME, TITLE = "llamacpp", "llama.cpp server (llama-cpp-python)"
API_KEY = "sk-compat-llama"
ALIAS = "tiny"
N_CTX = 512

NOTES: dict[str, str] = {
    "err-context": "Not something gptcli can read: streamed, this server checks the prompt's length only after "
    "it has sent the 200 and the event-stream headers, and the exception then ends the stream with no event and "
    "no error (its log shows the ValueError). gptcli reports what it saw, in one line (the server ended the reply "
    "without finishing it; 0 characters received), sends the request again as for a dropped connection (nothing "
    "had arrived), and exits 6. The same prompt with --no-stream gets the server's 400 and exits 8 with its "
    "numbers (the next row); a profile's `context_window` lets gptcli refuse it before sending (exit 8).",
}

# What llama-cpp-python's server does, read in its source (llama_cpp/server/app.py, errors.py, types.py,
# settings.py and llama.py of the 0.3.36 sdist): shown in the document until the checks have run here.
FROM_SOURCE = {
    "n": '`n` is dropped from every chat request (app.py: `exclude = {"n", ...}`): `-n 2` gets one choice',
    "model names": "an unknown model name falls back to the default model (model.py `LlamaProxy.__call__`): "
    "no unknown-model error exists",
    "context": "a prompt over `n_ctx` raises `Requested tokens (N) exceed context window of M` (llama.py); "
    "without streaming, errors.py turns it into 400 `context_length_exceeded` (\"This model's maximum context "
    'length is M tokens..."); streamed, it is raised inside the event generator after the 200 headers are '
    "sent: an event stream with no events (issue 15, item 1)",
    "keys": 'with `--api_key`, a wrong or missing key gets 401 `{"detail": "Invalid API key"}` (FastAPI\'s '
    "shape, not OpenAI's)",
    "other errors": "any other exception, request validation errors included, becomes 500 "
    "`internal_server_error` whose message is the exception text (a pydantic dump for a bad field)",
    "interruptions": "`interrupt_requests` (default true): a request arriving while a stream runs ends that "
    "stream with `[DONE]` and no `finish_reason`",
    "max_completion_tokens": "not a field of its request model (types.py has `max_tokens` only), so it is "
    "ignored: an o-series name with `--max-tokens` gets an unbounded reply (issue 15, item 7)",
}


def ensure(venv: Path) -> str:
    """The installed llama-cpp-python version, building it first if needed."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    code = "import importlib.metadata as m, gguf, llama_cpp.server; print(m.version('llama-cpp-python'))"
    probe = [str(py), "-c", code]
    got = subprocess.run(probe, capture_output=True, text=True)
    if got.returncode != 0:
        print(f"building llama-cpp-python[server] into {venv} (15 minutes to over an hour)...", file=sys.stderr)
        env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": "1", "CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
        subprocess.run([str(py), "-m", "pip", "install", "-q", "llama-cpp-python[server]", "gguf"], check=True, env=env)
        got = subprocess.run(probe, capture_output=True, text=True, check=True)
    return got.stdout.strip()


def own_checks() -> list[Check]:
    ask = checks.ASK
    return [
        Check(
            "max-tokens-o-name",
            "ask -m o3-mini --max-tokens 3 --json (an o-series name on another server)",
            [*ask, "-m", "o3-mini", "--json", "--max-tokens", "3", checks.PROMPT],
            stdout=verdicts.json_reply(max_completion=3),
        ),
        Check(
            "err-invalid-param",
            "error: a parameter value the server's schema refuses (exit 1, not retried, one line)",
            [*ask, "--param", 'top_k="many"', checks.PROMPT],
            expect_exit=1,
            max_requests=1,
            record=True,
            record_stream=False,
            what="top_k as a string: the request validation error, which this server answers with a 500",
        ),
        Check(
            "stream-cut",
            "a stream cut off by another request (retried: exit 0, whole reply)",
            [*ask, "--raw", "--max-tokens", "400", checks.PROMPT],
            on_output="second-request",
            second=[*ask, "--no-stream", "--max-tokens", "3", "Hi"],
            stdout=None,
            extra=verdicts.complete_in_log,
            timeout=120,
        ),
    ]


def n_ignored(rows: list[Check]) -> None:
    """This server drops ``n``: one choice arrives, and gptcli should say so once (issue 15, item 4)."""
    for r in rows:
        if r.id in ("ask-n2-stream", "ask-n2-no-stream"):
            r.title += "; a server that ignores n: one choice, one warning"
            r.stdout = verdicts.fewer_choices(2)
        elif r.id == "ask-json-n2":
            r.title += "; a server that ignores n: a list of one, a note"
            r.stdout = verdicts.fewer_choices(2, as_json=True)


def unknown_model_answered(rows: list[Check]) -> None:
    """This server answers any model name with its one model: no error exists for gptcli to report."""
    for r in rows:
        if r.id == "err-unknown-model":
            r.title = "error: unknown model (exit 3; a server that serves any name: exit 0)"
            r.expect_exit, r.stdout, r.record = 0, verdicts.nonempty, False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=harness.HERE.parent / ".venvs" / "llamacpp")
    ap.add_argument("--only", help="comma-separated check ids")
    ap.add_argument("--no-fixtures", action="store_true", help="do not (re)write tests/fixtures/servers/llamacpp")
    ap.add_argument("--unavailable", metavar="WHY", help="only record that the server could not be run here, and why")
    args = ap.parse_args(argv)
    if args.unavailable:
        runner.unavailable(NAME, TITLE, args.unavailable, {"expected from the source": FROM_SOURCE})
        return 0
    venv = args.venv.resolve()
    try:
        version = ensure(venv)
    except (subprocess.CalledProcessError, OSError) as e:
        runner.unavailable(NAME, TITLE, f"llama-cpp-python[server] could not be built here: {e}")
        raise
    work = harness.HERE.parent / ".results" / f"compat-{NAME}"
    work.mkdir(parents=True, exist_ok=True)
    model = work / "tiny.gguf"
    subprocess.run([str(venv / "bin" / "python"), str(harness.HERE / "make_tiny_gguf.py"), str(model)], check=True)
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(
        NAME,
        TITLE,
        f"llama-cpp-python {version}",
        f"{base}/v1",
        ALIAS,
        api_key=API_KEY,
        # The random model never ends a reply by itself: unbounded, the first reply fills the 512-token
        # context and the next turn (ask -c, chat) would not fit. Checks that need more say so.
        profile_extra="max_retries = 2\nmax_tokens = 48",
        log=work / "server.log",
    )
    rows = checks.common(long_reply=["--max-tokens", "400"])
    rows = checks.with_models(rows, ALIAS)
    unknown_model_answered(rows)
    n_ignored(rows)
    at = next(i for i, r in enumerate(rows) if r.id.startswith("err-"))
    rows[at:at] = own_checks()
    cmd = [
        str(venv / "bin" / "python"),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(N_CTX),
        "--n_threads",
        "1",
        "--api_key",
        API_KEY,
    ]
    with harness.server_process(cmd, log=work / "server.log", ready_url=f"{base}/docs", wait=120):
        results = runner.run_checks(
            server, rows, only=set(args.only.split(",")) if args.only else None, record_fixtures=not args.no_fixtures
        )
    about = {
        "start": f"python -m llama_cpp.server --model tiny.gguf --model_alias {ALIAS} --n_ctx {N_CTX} "
        "--n_threads 1 --api_key KEY --host 127.0.0.1",
        "model": "bench/compat/make_tiny_gguf.py: llama architecture, 2 layers, 64 wide, a 571-token "
        "SentencePiece vocabulary, random weights (replies are random words)",
        "model names": "llama-cpp-python serves its one model under any name (an unknown name falls back to the "
        "default model), so the unknown-model row expects a reply",
        "interruptions": "with `interrupt_requests` (its default) a request that arrives while a stream runs cuts "
        "that stream off: `[DONE]` with no `finish_reason` (gptcli sends it again within `max_retries`: the "
        "stream-cut row)",
        "n": 'dropped from every request: `-n 2` gets one choice; gptcli prints it with one warning ("the server '
        "returned 1 of 2 choices\") and `--json`'s `text` stays a list",
        "context": "--no-stream: 400 `context_length_exceeded` with the numbers (exit 8); streamed: a 200 event "
        "stream that ends with no event (the check runs after the headers are sent), see the note",
        "max_tokens": "the profile sets max_tokens = 48: the random model never ends a reply by itself, and an "
        "unbounded first reply would fill the 512-token context before the next turn",
        "errors": "a request validation error is a 500 `internal_server_error` whose message is a pydantic dump and "
        "the server's source path; gptcli shows its first two lines as one (no path) and does not retry it",
    }
    path = runner.save_results(server, results, NOTES, about, partial=bool(args.only))
    print(f"{sum(r.ok for r in results)}/{len(results)} ok; {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
