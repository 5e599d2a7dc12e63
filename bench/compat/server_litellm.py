"""gptcli against a LiteLLM proxy in its mock mode (no upstream, no network).

    python bench/compat/server_litellm.py [--venv DIR] [--only CHECK,...] [--no-fixtures]

Installs ``litellm[proxy]`` into its own venv when the venv has no ``litellm``
(default ``bench/.venvs/litellm``; never into gptcli's own), writes a proxy config whose
models answer with ``mock_response`` (plus the mock errors LiteLLM has built in: timeout,
rate limit, internal error), starts the proxy on 127.0.0.1 with a master key, runs the
checks of ``checks.py`` and its own, and writes ``bench/compat/results/litellm.json``
and the error bodies to ``tests/fixtures/servers/litellm/``. The proxy is stopped at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import checks
import harness
import runner
import verdicts
from harness import Check, Server

NAME, TITLE = "litellm", "LiteLLM proxy (mock)"
MASTER_KEY = "sk-compat-master"
MOCK_TEXT = "Hello from the LiteLLM mock."
LONG_TEXT = " ".join(f"w{i}" for i in range(3000))  # ~10,000 stream chunks: many seconds to stream

# Why a check can fail: shown under the table when (and only when) it fails.
NOTES = {
    "ask-n2-stream": "LiteLLM's stream wrapper relays one `finish_reason`, for choice 0 only (it keeps a single "
    "`received_finish_reason`), whatever the model behind it. gptcli takes such a stream as whole when some choice "
    "finished and every other one sent its text (docs/errors.md); a failure here means that rule broke.",
    "ask-json-n2": "The same stream as `ask -n 2` (choice 2 never gets a `finish_reason`).",
    "err-unknown-model": "LiteLLM answers an unknown model with 400 `Invalid model name passed in model=...`: "
    "gptcli should exit 3 and point to `gptcli models -p PROFILE` (classify.py, rule unknown_model).",
    "err-context": "LiteLLM's 400 `ContextWindowExceededError` carries no OpenAI `code`: gptcli should exit 8 with "
    "the numbers the server gave (`Max Input Tokens=..., Got=...`).",
    "err-context-no-stream": "As above, without streaming.",
    "err-bad-key": "A proxy with a master key and no database answers any other key with 400 `No connected db.` "
    "(type `no_db_connection`): gptcli should read it as a refused key (exit 4).",
    "err-no-key": "With no key set gptcli sends its placeholder key, which this proxy answers with 400 `No connected "
    "db.`: gptcli should exit 4 and say that COMPAT_API_KEY (the profile's `api_key_env`) is unset.",
    "err-unsupported-param": "`reasoner` is an alias of o3-mini: LiteLLM refuses `temperature=0.3` with 400 "
    '`UnsupportedParamsError: O-series models don\'t support temperature=0.3` (`param: null`, `code: "400"`): '
    "gptcli's second chance should retry once without `temperature`.",
    "err-timeout": "LiteLLM's 408 `litellm.Timeout` should be retried and end with exit 6, on one line.",
    "err-rate-limit": "Exit 5 after retries, on one line (LiteLLM's message has a blank line and a `model group ... "
    "failed` sentence: only the first meaningful line is shown).",
    "err-server": "Exit 6 after retries, on one line.",
    "sigint-ask": "The SIGINT is sent as soon as reply text reaches the terminal. If it is lost, check first that "
    "the harness was not started by a shell without job control (`... &` in a script): its children then inherit "
    "SIGINT ignored, and Python installs no KeyboardInterrupt handler (the harness resets SIGINT for gptcli, "
    "harness.as_from_a_terminal).",
}


def config(path: Path) -> None:
    def model(name: str, upstream: str, **params: object) -> str:
        lines = [
            f"  - model_name: {name}",
            "    litellm_params:",
            f"      model: {upstream}",
            "      api_key: fake-upstream-key",
        ]
        lines += [f"      {k}: {v!r}" if not isinstance(v, str) else f'      {k}: "{v}"' for k, v in params.items()]
        return "\n".join(lines)

    models = [
        model("mock-gpt", "openai/gpt-4o-mini", mock_response=MOCK_TEXT)
        + "\n    model_info:\n      max_input_tokens: 2000",
        model("reasoner", "openai/o3-mini", mock_response="Reasoned."),
        model("slow", "openai/gpt-4o-mini", mock_timeout=True, timeout=1),
        model("limited", "openai/gpt-4o-mini", mock_response="litellm.RateLimitError"),
        model("broken", "openai/gpt-4o-mini", mock_response="litellm.InternalServerError"),
        model("long", "openai/gpt-4o-mini", mock_response=LONG_TEXT),
    ]
    path.write_text(
        "model_list:\n" + "\n".join(models).replace("True", "true") + "\n"
        f"general_settings:\n  master_key: {MASTER_KEY}\n"
        "router_settings:\n  enable_pre_call_checks: true\n  num_retries: 0\n"
        "litellm_settings:\n  num_retries: 0\n",
        encoding="utf-8",
    )


def ensure(venv: Path) -> str:
    """The installed litellm version, installing ``litellm[proxy]`` first if needed."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    got = subprocess.run(probe, capture_output=True, text=True)
    if got.returncode != 0:
        print(f"installing litellm[proxy] into {venv} (a few minutes)...", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "litellm[proxy]"], check=True)
        got = subprocess.run(probe, capture_output=True, text=True, check=True)
    return got.stdout.strip()


def own_checks() -> list[Check]:
    ask = checks.ASK
    return [
        Check(
            "err-unsupported-param",
            "error: unsupported parameter (second chance, exit 0)",
            [*ask, "-m", "reasoner", "-t", "0.3", checks.PROMPT],
            stdout=verdicts.exactly("Reasoned."),
            record=True,
            what="temperature=0.3 for `reasoner`, an alias of o3-mini",
        ),
        Check(
            "err-timeout",
            "error: server timeout, 408 (exit 6 after retries)",
            [*ask, "-m", "slow", checks.PROMPT],
            expect_exit=6,
            record=True,
            record_stream=False,
            what="LiteLLM's mock timeout (408)",
        ),
        Check(
            "err-rate-limit",
            "error: rate limit, 429 (exit 5 after retries)",
            [*ask, "-m", "limited", checks.PROMPT],
            expect_exit=5,
            record=True,
            record_stream=False,
            what="LiteLLM's mock rate-limit error (429)",
        ),
        Check(
            "err-server",
            "error: server error, 500 (exit 6 after retries)",
            [*ask, "-m", "broken", checks.PROMPT],
            expect_exit=6,
            record=True,
            record_stream=False,
            what="LiteLLM's mock internal server error (500)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=harness.HERE.parent / ".venvs" / "litellm")
    ap.add_argument("--only", help="comma-separated check ids")
    ap.add_argument("--no-fixtures", action="store_true", help="do not (re)write tests/fixtures/servers/litellm")
    args = ap.parse_args(argv)
    try:
        version = ensure(args.venv.resolve())
    except (subprocess.CalledProcessError, OSError) as e:
        runner.unavailable(NAME, TITLE, f"litellm[proxy] could not be installed: {e}")
        raise
    work = harness.HERE.parent / ".results" / f"compat-{NAME}"
    work.mkdir(parents=True, exist_ok=True)
    config(work / "config.yaml")
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(
        NAME,
        TITLE,
        f"litellm {version}",
        f"{base}/v1",
        "mock-gpt",
        api_key=MASTER_KEY,
        profile_extra="max_retries = 2",
        log=work / "server.log",
    )
    rows = checks.common(text=verdicts.exactly(MOCK_TEXT), max_tokens=verdicts.json_reply(), long_reply=["-m", "long"])
    rows = checks.with_models(rows, "mock-gpt")
    at = next(i for i, r in enumerate(rows) if r.id.startswith("sigint"))
    rows[at:at] = own_checks()
    cmd = [
        str(args.venv.resolve() / "bin" / "litellm"),
        "--config",
        str(work / "config.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    with harness.server_process(cmd, log=work / "server.log", ready_url=f"{base}/health/liveliness"):
        results = runner.run_checks(
            server, rows, only=set(args.only.split(",")) if args.only else None, record_fixtures=not args.no_fixtures
        )
    about = {
        "start": "litellm --config config.yaml --host 127.0.0.1 --port PORT (mock_response models, a master key, "
        "no database)",
        "model": "mock-gpt (openai/gpt-4o-mini with mock_response); reasoner = openai/o3-mini; slow, limited, "
        "broken = LiteLLM's mock timeout, rate limit and internal error; long = a 3,000-word mock reply",
        "max_tokens": "the mock ignores max_tokens: the row checks the reply arrives whole and well-formed",
        "keys": "a proxy with a master key and no database answers any other key (and gptcli's placeholder) with "
        "400 `No connected db.` (type `no_db_connection`), not 401: gptcli reads that type as a refused key "
        "(exit 4, the server's text, and the variable the key came from or, with no key set, the unset one)",
        "interruptions": "the SIGINT row once failed (exit 0 after the whole reply) and passed when run by hand. "
        "Reproduced and explained: the run had been started in the background by a shell without job control, "
        "so every gptcli it started inherited SIGINT ignored (SigIgn in /proc) and Python installed no "
        "KeyboardInterrupt handler; chat passed because it sets its own SIGINT handler during a reply. Not the "
        "proxy and not a gptcli bug (a command a script starts with `&` should ignore SIGINT); the harness now "
        "gives gptcli SIGINT as from a terminal, and gptcli keeps a signal ignored at start ignored (`nohup`)",
        "n": "streamed, LiteLLM relays one `finish_reason`, for choice 0 only; gptcli takes a stream in which "
        "some choice finished and every other one sent its text as whole (docs/errors.md)",
    }
    path = runner.save_results(server, results, NOTES, about, partial=bool(args.only))
    print(f"{sum(r.ok for r in results)}/{len(results)} ok; {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
