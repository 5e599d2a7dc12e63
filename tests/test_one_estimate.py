"""One estimate per request (issue 15, item 8): -v, --dry-run, --json and chat agree.

For the same conversation and question, ``ask -c -v``, ``ask -c --dry-run``, ``ask -c --json``
and chat's own ``-v`` line before the request show one number of prompt tokens; chat's
``/tokens`` (the history the next request carries) plus the question's share is that
number too. All read from the CLI, as a user sees them.
"""

from __future__ import annotations

import re
from pathlib import Path

PROMPTS_LINE = re.compile(r"^gpt-4o-mini · (~?)([\d,]+) prompt tokens · ", re.M)
TOKENS_LINE = re.compile(r"^ ?(about )?([\d,]+) tokens in context", re.M)
QUESTION = "And what about delta, epsilon and zeta?"


def prompt_tokens(stderr: str) -> int:
    found = PROMPTS_LINE.findall(stderr)
    assert len(found) == 1 and found[0][0] == "", stderr  # one line, exact (no ~)
    return int(found[0][1].replace(",", ""))


def in_context(text: str) -> list[int]:
    return [int(n.replace(",", "")) for about, n in TOKENS_LINE.findall(text) if not about]


def test_the_four_views_show_one_number(server, gptcli, isolated: Path) -> None:
    assert gptcli("ask", "Tell me about alpha, beta and gamma.").code == 0
    dry = gptcli("ask", "-c", "--dry-run", QUESTION).json()["estimate"]
    verbose = gptcli("ask", "-c", "-v", "--no-log", QUESTION)
    as_json = gptcli("ask", "-c", "--json", "--no-log", QUESTION).json()["estimate"]
    chat = gptcli("chat", "-c", "-v", input=f"/tokens\n{QUESTION}\n")
    assert chat.code == 0, chat.stderr
    assert dry["exact"] is True and dry["encoding"] == "o200k_base"
    assert as_json["exact"] is True and as_json["encoding"] == "o200k_base"
    number = dry["prompt_tokens"]
    assert as_json["prompt_tokens"] == number
    assert prompt_tokens(verbose.stderr) == number
    assert prompt_tokens(chat.stderr) == number
    # /tokens: the history alone; the question adds what it adds to an empty chat's count.
    (history,) = in_context(chat.stdout + chat.stderr)
    fresh = gptcli("ask", "--dry-run", QUESTION).json()["estimate"]["prompt_tokens"]
    empty = gptcli("chat", input="/tokens\n")
    (base,) = in_context(empty.stdout + empty.stderr)
    assert history + (fresh - base) == number
    assert 0 < base < fresh < history < number


def test_tokens_says_about_for_a_model_without_a_known_tokenizer(server, gptcli, isolated: Path) -> None:
    r = gptcli("chat", "-m", "llama3.2", input="/tokens\n")
    assert r.code == 0, r.stderr
    assert re.search(r"^ ?about \d+ tokens in context", r.stdout + r.stderr, re.M)
    estimate = gptcli("ask", "--dry-run", "-m", "llama3.2", QUESTION).json()["estimate"]
    assert estimate["exact"] is False and estimate["encoding"]
