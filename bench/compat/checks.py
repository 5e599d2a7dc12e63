"""The checks every server gets: the rows of docs/compatibility.md, in order.

Each server script adds its own (errors only it can produce) and may replace a
verdict where the server itself promises less (LiteLLM's mock ignores ``max_tokens``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from harness import Check, Run, Verdict
from verdicts import (
    batch_output,
    chat_replies,
    choices,
    complete_in_log,
    interrupted_log,
    json_reply,
    models_list,
    nonempty,
)

ASK = ["ask", "-p", "compat"]
PROMPT = "Say hello."


def continued(run: Run) -> str | None:
    """``ask -c``: one conversation, both turns answered, the first reply kept as history."""
    logs = sorted((run.home / "data" / "conversations").glob("*.jsonl"))
    if len(logs) != 1:
        return f"{len(logs)} conversation files, expected 1"
    msgs = [r for r in map(json.loads, logs[0].read_text(encoding="utf-8").splitlines()) if r.get("type") == "message"]
    roles = [m["role"] for m in msgs]
    if roles[-4:] != ["user", "assistant", "user", "assistant"] or not all(m.get("content") for m in msgs[-4:]):
        return f"log has {roles} with empty or missing replies"
    return None


def names_variable(run: Run) -> str | None:
    return None if "COMPAT_API_KEY" in run.stderr else "the error does not name the unset variable COMPAT_API_KEY"


def common(
    *,
    text: Verdict = nonempty,
    max_tokens: Verdict | None = None,
    unsupported: Check | None = None,
    keys_checked: bool = True,
    bad_key_exit: int = 4,
    long_reply: Sequence[str] = (),
) -> list[Check]:
    """The shared rows. ``long_reply``: flags that make a reply last a few seconds (for SIGINT)."""
    rows = [
        Check("ask-stream", "ask (streamed, piped)", [*ASK, PROMPT], stdout=text, extra=complete_in_log),
        Check("ask-no-stream", "ask --no-stream", [*ASK, "--no-stream", PROMPT], stdout=text),
        Check(
            "ask-n2-stream",
            "ask -n 2 (streamed)",
            [*ASK, "-n", "2", PROMPT],
            stdout=choices(2),
            extra=complete_in_log,
            record=True,
            what="two choices, streamed: kept when a requested choice never gets a finish_reason",
        ),
        Check("ask-n2-no-stream", "ask -n 2 --no-stream", [*ASK, "-n", "2", "--no-stream", PROMPT], stdout=choices(2)),
        Check(
            "ask-max-tokens",
            "ask --max-tokens 3 --json",
            [*ASK, "--json", "--max-tokens", "3", PROMPT],
            stdout=max_tokens or json_reply(max_completion=3),
        ),
        Check("ask-json", "ask --json", [*ASK, "--json", PROMPT], stdout=json_reply()),
        Check(
            "ask-json-n2",
            "ask --json -n 2",
            [*ASK, "--json", "-n", "2", PROMPT],
            stdout=json_reply(2),
            extra=complete_in_log,
        ),
        Check(
            "ask-continue",
            "ask, then ask -c",
            [*ASK, "-c", "And again?"],
            stdout=text,
            before=[[*ASK, PROMPT]],
            extra=continued,
        ),
        Check(
            "chat-lines",
            "chat, stdin line mode (2 turns, /tokens)",
            ["chat", "-p", "compat"],
            stdin=f"{PROMPT}\nName a colour.\n/tokens\n",
            stdout=chat_replies(2),
        ),
        Check(
            "batch",
            "batch, 4 prompts, -j 1",
            ["batch", "prompts.txt", "-p", "compat", "-o", "out.jsonl", "-j", "1"],
            stdout=None,
            extra=batch_output(4),
        ),
        Check(
            "batch-concurrent",
            "batch, 4 prompts, -j 4",
            ["batch", "prompts.txt", "-p", "compat", "-o", "out.jsonl", "-j", "4"],
            stdout=None,
            extra=batch_output(4),
        ),
        Check("models", "models --json", ["models", "-p", "compat", "--json"], stdout=None),
        Check(
            "err-unknown-model",
            "error: unknown model (exit 3)",
            [*ASK, "-m", "no-such-model", PROMPT],
            max_requests=1,
            expect_exit=3,
            record=True,
            what="a model the server does not serve",
        ),
        Check(
            "err-context",
            "error: prompt over the context window, streamed (exit 8)",
            [*ASK, "-f", "long.txt", "Summarise."],
            max_requests=1,
            expect_exit=8,
            record=True,
            what="a prompt of ~16,000 tokens, over the model's context window",
        ),
        Check(
            "err-context-no-stream",
            "error: prompt over the context window, --no-stream (exit 8)",
            [*ASK, "--no-stream", "-f", "long.txt", "Summarise."],
            max_requests=1,
            expect_exit=8,
            record=False,
        ),
    ]
    if keys_checked:
        rows += [
            Check(
                "err-bad-key",
                "error: wrong API key (exit 4)",
                [*ASK, PROMPT],
                key="sk-wrong-key-0000",
                expect_exit=bad_key_exit,
                record=True,
                what="a key the server does not accept",
            ),
            Check(
                "err-no-key",
                "error: no API key set (names the variable)",
                [*ASK, PROMPT],
                key=None,
                expect_exit=bad_key_exit,
                extra=names_variable,
                record=True,
                what="no key set: gptcli sends its placeholder key",
            ),
        ]
    if unsupported is not None:
        rows.append(unsupported)
    rows += [
        Check(
            "sigint-ask",
            "SIGINT mid-stream: ask (exit 130, partial kept)",
            [*ASK, "--raw", *long_reply, PROMPT],
            expect_exit=130,
            on_output="sigint",
            stdout=None,
            extra=interrupted_log,
            timeout=90,
        ),
        Check(
            "sigint-chat",
            "SIGINT mid-stream: chat (exit 130, partial kept)",
            ["chat", "-p", "compat", "--raw", *long_reply],
            stdin=f"{PROMPT}\n",
            expect_exit=130,
            on_output="sigint",
            stdout=None,
            extra=interrupted_log,
            timeout=90,
        ),
    ]
    return rows


def with_models(rows: list[Check], model: str) -> list[Check]:
    """Give the ``models`` row its verdict (the served model must be listed)."""
    for r in rows:
        if r.id == "models":
            r.stdout = models_list(model)
    return rows
