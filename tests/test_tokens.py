"""Tests for gptcli.tokens: exact counts, fast loading, exact chunking, offline, prices."""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptcli import _ranks, budget, prices, tokens
from gptcli.errors import ConfigError, ExitCode
from gptcli.models import Price
from gptcli.tokens import bundled, encodings, files

SHARED_TIKTOKEN = os.environ.get("TIKTOKEN_CACHE_DIR") or "/work/shared/tiktoken-cache"
SRC = str(Path(__file__).resolve().parents[1] / "src")
HYPOTHESIS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One GPTCLI_HOME for the session, so the rank cache is built once, not per test."""
    return tmp_path_factory.mktemp("gptcli-home")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, shared_home: Path) -> None:
    monkeypatch.setenv("GPTCLI_HOME", str(shared_home))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", SHARED_TIKTOKEN)
    for key in list(os.environ):
        if key.startswith("OPENAI_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    """tiktoken's own encodings, loaded its own way: the ground truth."""
    import tiktoken

    os.environ.setdefault("TIKTOKEN_CACHE_DIR", SHARED_TIKTOKEN)
    return {name: tiktoken.get_encoding(name) for name in ("o200k_base", "cl100k_base")}


def _child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": SRC, **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


# ---------------------------------------------------------------------------------------
# 1. the cookbook's published API counts

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]

COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]

COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-3.5-turbo-0125", 129),
        ("gpt-4", 129),
        ("gpt-4-0613", 129),
        ("gpt-4o", 124),
        ("gpt-4o-2024-08-06", 124),
        ("gpt-4o-mini", 124),
    ],
)
def test_cookbook_messages(model: str, expected: int) -> None:
    assert tokens.count_messages(COOKBOOK_MESSAGES, model) == expected


@pytest.mark.parametrize(
    ("model", "expected"), [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)]
)
def test_cookbook_tools(model: str, expected: int) -> None:
    assert tokens.count_messages(COOKBOOK_TOOL_MESSAGES, model, tools=COOKBOOK_TOOLS) == expected


def test_single_hello_message() -> None:
    assert tokens.count_messages([{"role": "user", "content": "hello"}], "gpt-4o") == 8


def test_multipart_content_and_tool_calls_are_walked() -> None:
    text_only = [{"role": "user", "content": "describe this picture"}]
    multipart = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe this picture"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        }
    ]
    # The text part as text; the image by its rule (issue 19): "AAAA" is no image Pillow can
    # read, so it is counted at the most one image costs gpt-4o (85 + 8 tiles x 170).
    assert tokens.count_messages(multipart, "gpt-4o") == tokens.count_messages(text_only, "gpt-4o") + 1445
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"city": "Paris"}'}}],
    }
    n = tokens.count_messages([call], "gpt-4o")
    assert n == 3 + 1 + tokens.count_text("f", "gpt-4o") + tokens.count_text('{"city": "Paris"}', "gpt-4o") + 3


# ---------------------------------------------------------------------------------------
# 2. encode_ordinary semantics


def test_special_token_text_is_counted_not_rejected(reference: dict[str, Any]) -> None:
    text = "before <|endoftext|> after <|endofprompt|>"
    expected = len(reference["o200k_base"].encode_ordinary(text))
    assert tokens.count_text(text, "gpt-4o") == expected > 3
    tokens.get_encoding("o200k_base")  # the full encoder, not the small-text one
    assert tokens.count_text(text, "gpt-4o") == expected
    assert tokens.count_messages([{"role": "user", "content": text}], "gpt-4o") == expected + 3 + 1 + 3


def test_lone_surrogates_count_like_tiktoken(reference: dict[str, Any]) -> None:
    text = "a\ud800b\udfff c"
    assert tokens.count_text(text, "gpt-4o") == len(reference["o200k_base"].encode_ordinary(text))


# ---------------------------------------------------------------------------------------
# 3. model names -> encodings


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", ("o200k_base", True)),
        ("gpt-4o-mini-2024-07-18", ("o200k_base", True)),
        ("gpt-4.1", ("o200k_base", True)),
        ("o3", ("o200k_base", True)),
        ("gpt-5", ("o200k_base", True)),
        ("gpt-5-chat-latest", ("o200k_base", True)),
        ("gpt-4", ("cl100k_base", True)),
        ("gpt-4-turbo", ("cl100k_base", True)),
        ("gpt-3.5-turbo", ("cl100k_base", True)),
        ("gpt-oss-120b", ("o200k_harmony", True)),
        # tiktoken 0.14 raises KeyError for these; gptcli's rule decides
        ("gpt-4.5", ("o200k_base", True)),
        ("gpt-6", ("o200k_base", True)),
        ("gpt-6.2-sol", ("o200k_base", True)),
        ("o4", ("o200k_base", True)),
        ("codex-mini-latest", ("o200k_base", True)),
        ("gpt-realtime", ("o200k_base", True)),
        ("gpt-audio-mini", ("o200k_base", True)),
        ("gpt-4-0314-experimental-preview", ("cl100k_base", True)),
        # fine-tunes: the base model decides (tiktoken says cl100k for the first one)
        ("ft:gpt-4.1-mini-2025-04-14:org::x", ("o200k_base", True)),
        ("ft:gpt-4o-mini-2024-07-18:acme:custom:abc123", ("o200k_base", True)),
        ("ft:o4-mini-2025-04-16:org::y", ("o200k_base", True)),
        ("ft:gpt-3.5-turbo-0125:org::z", ("cl100k_base", True)),
        ("ft:gpt-4-0613:org::z", ("cl100k_base", True)),
        # third-party models: a stand-in encoding, labelled approximate
        ("llama3", ("o200k_base", False)),
        ("deepseek-chat", ("o200k_base", False)),
        ("claude-3-5-sonnet", ("o200k_base", False)),
        ("qwen2.5:7b", ("o200k_base", False)),
    ],
)
def test_encoding_name(model: str, expected: tuple[str, bool]) -> None:
    assert tokens.encoding_name(model) == expected


def test_encoding_name_premises_about_tiktoken() -> None:
    """The cases above matter because tiktoken itself gets them wrong or gives up."""
    from tiktoken.model import encoding_name_for_model

    assert encoding_name_for_model("ft:gpt-4.1-mini-2025-04-14:org::x") == "cl100k_base"
    for name in ("gpt-4.5", "gpt-6", "o4", "codex-mini-latest", "gpt-realtime", "llama3"):
        with pytest.raises(KeyError):
            encoding_name_for_model(name)


def test_encoding_override() -> None:
    assert tokens.encoding_name("llama3", "cl100k_base") == ("cl100k_base", False)
    assert tokens.encoding_name("gpt-4o", "o200k_base") == ("o200k_base", True)
    assert tokens.encoding_name("gpt-4o", "cl100k_base") == ("cl100k_base", False)
    assert tokens.count_text("hello world", "llama3", "cl100k_base") == 2


def test_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown encoding"):
        tokens.count_text("hi", "gpt-4o", "o300k_base")


# ---------------------------------------------------------------------------------------
# 4. fast loading, still exact


def test_rank_cache_matches_tiktoken(
    reference: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cold home (the test's own starts warm, see conftest): the cache is written here.
    monkeypatch.setenv("GPTCLI_HOME", str(tmp_path / "cold"))
    tokens.clear_cache()
    try:
        for name in ("o200k_base", "cl100k_base"):
            ours = tokens.get_encoding(name)
            theirs = reference[name]
            assert ours._mergeable_ranks == theirs._mergeable_ranks
            assert ours._special_tokens == theirs._special_tokens
            assert ours._pat_str == theirs._pat_str
    finally:
        tokens.clear_cache()
    files = sorted(p.name for p in (tmp_path / "cold" / "cache" / "tiktoken").iterdir())
    assert any(f.endswith(".marshal") for f in files) and any(f.endswith(".index") for f in files)


def test_harmony_shares_the_o200k_file(reference: dict[str, Any]) -> None:
    enc = tokens.get_encoding("o200k_harmony")
    assert enc._mergeable_ranks == reference["o200k_base"]._mergeable_ranks
    assert enc._special_tokens["<|start|>"] == 200006


TRICKY = list(
    " \t\n\r/'\"abcXYZsStTdD09,.;:!?-_()[]{}<>#@*+=|\\~`$%^&"
    "中文字，。、；：！？（）「」《》"
    "\u00a0\u3000\u2028\u0085\u001c\u200b\ufeff\u0301\u0308²½٣éǅʰ😀"
)
tricky_text = st.one_of(
    st.text(alphabet=st.sampled_from(TRICKY), max_size=300),
    st.text(max_size=120),
    st.lists(
        st.sampled_from(["don't", "it's", " ", "  ", "\n", "\n\n", " \n", "\t", "word", "Word", "123", "4567", "/*"]),
        max_size=60,
    ).map("".join),
)


@HYPOTHESIS
@given(text=tricky_text)
def test_small_text_encoder_is_exact(text: str, reference: dict[str, Any]) -> None:
    for name in ("o200k_base", "cl100k_base"):
        tokens.get_encoding(name)  # make sure the index exists
        encodings._small_builds.clear()  # past a few builds it would defer to the full encoder
        small = encodings._small_encoder(name, [encodings.utf8(text)])
        if not text:
            continue
        assert small is not None
        assert small.encode_ordinary(text) == reference[name].encode_ordinary(text)


def test_small_counts_never_load_the_full_ranks(tmp_path: Path) -> None:
    """With the rank cache warm, counting a short text needs neither tiktoken's file nor
    the full dict: it works with TIKTOKEN_CACHE_DIR pointing at an empty folder."""
    tokens.clear_cache()  # an earlier test may have loaded it from another home: write this home's cache
    tokens.get_encoding("o200k_base")  # warm the session's rank cache
    code = (
        "import sys, tiktoken.registry\n"
        "from gptcli import tokens\nfrom gptcli.tokens import encodings\n"
        "n = tokens.count_text('hi there, 你好', 'gpt-4o')\n"
        "m = tokens.count_messages([{'role': 'user', 'content': 'hello'}], 'gpt-4o')\n"
        "assert not encodings._loaded and not tiktoken.registry.ENCODINGS\n"
        "print(n, m)\n"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _child(code, TIKTOKEN_CACHE_DIR=str(empty), GPTCLI_HOME=os.environ["GPTCLI_HOME"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tokens.count_text("hi there, 你好", "gpt-4o")), "8"]


def test_damaged_rank_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any]
) -> None:
    monkeypatch.setenv("GPTCLI_HOME", str(tmp_path))
    tokens.clear_cache()
    try:
        tokens.get_encoding("cl100k_base")
        cache = tmp_path / "cache" / "tiktoken"
        for path in cache.iterdir():
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF  # one flipped byte: caught by the CRC
            path.write_bytes(bytes(data))
        spec = encodings._spec("cl100k_base")
        assert spec.bpe is not None
        marshal_path, index_path = _ranks.cache_paths(cache, spec.bpe[1] or "")
        assert _ranks.read_marshal(marshal_path) is None
        assert _ranks.RankIndex.open(index_path) is None
        marshal_path.write_bytes(b"short")
        tokens.clear_cache()
        index_path.unlink()
        enc = tokens.get_encoding("cl100k_base")
        assert enc._mergeable_ranks == reference["cl100k_base"]._mergeable_ranks
        assert _ranks.read_marshal(marshal_path) == reference["cl100k_base"]._mergeable_ranks
        assert _ranks.RankIndex.open(index_path) is not None
    finally:
        tokens.clear_cache()


def test_many_small_counts_switch_to_the_full_encoder() -> None:
    tokens.clear_cache()
    try:
        for i in range(encodings._SMALL_BUILDS_BEFORE_FULL):
            tokens.count_text(f"text number {i}", "gpt-4o")
            assert "o200k_base" not in encodings._loaded
        tokens.count_text("one more", "gpt-4o")
        assert "o200k_base" in encodings._loaded
    finally:
        tokens.clear_cache()


def test_subset_scan_gives_up_on_budget() -> None:
    tokens.get_encoding("o200k_base")
    spec = encodings._spec("o200k_base")
    assert spec.bpe is not None
    _, index_path = _ranks.cache_paths(encodings._rank_dir(), spec.bpe[1] or "")
    index = _ranks.RankIndex.open(index_path)
    assert index is not None
    try:
        text = " ".join(f"w{i}x{i * 7}" for i in range(3000)).encode()
        assert index.subset(text, budget=100) is None
        assert index.subset(b"hello", budget=100) == {
            t: r for t, r in tokens.get_encoding("o200k_base")._mergeable_ranks.items() if t in b"hello"
        }
    finally:
        index.close()


# ---------------------------------------------------------------------------------------
# 5. large inputs: exact cuts, bounded memory, both cores


def _segments(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@HYPOTHESIS
@given(text=tricky_text, seed=st.integers(0, 2**16))
def test_every_allowed_cut_is_exact(text: str, seed: int, reference: dict[str, Any]) -> None:
    for name in ("o200k_base", "cl100k_base"):
        rule = files._split_rule(name)
        assert rule is not None
        enc = reference[name]
        whole = len(enc.encode_ordinary(text))
        cuts = [m.start() for m in rule.finditer(text, 1)]
        # all cuts at once, and a random subset of them, as the chunker would pick
        assert sum(len(enc.encode_ordinary(s)) for s in _segments(text, cuts)) == whole
        some = sorted(random.Random(seed).sample(cuts, len(cuts) // 2))
        assert sum(len(enc.encode_ordinary(s)) for s in _segments(text, some)) == whole


def test_allowed_cuts_exhaustively_on_short_strings(reference: dict[str, Any]) -> None:
    """Every string up to 3 characters over the characters that matter to the regexes
    (and up to 4 over the most delicate ones): each allowed cut keeps the exact tokens."""
    rule = files._split_rule("o200k_base")
    assert rule is not None
    delicate = [" ", "\t", "\n", "\r", "/", "a", "'", "1", ",", "中"]
    cases = [
        *("".join(t) for n in (2, 3) for t in itertools.product(TRICKY[:18] + delicate, repeat=n)),
        *("".join(t) for t in itertools.product(delicate, repeat=4)),
    ]
    for text in cases:
        for cut in (m.start() for m in rule.finditer(text, 1)):
            for enc in reference.values():
                assert enc.encode_ordinary(text[:cut]) + enc.encode_ordinary(text[cut:]) == enc.encode_ordinary(text)


def test_naive_cuts_are_not_exact(reference: dict[str, Any]) -> None:
    """Why the rule is needed: cutting inside whitespace, after a newline followed by
    whitespace or "/", or before trailing newlines changes the tokens (usually the count)."""
    rule = files._split_rule("o200k_base")
    assert rule is not None
    both: tuple[str, ...] = ("o200k_base", "cl100k_base")
    cases: list[tuple[str, int, tuple[str, ...]]] = [
        ("a  \n\n  b", 4, both),
        ("x\n   y", 3, both),
        ("a\n\n\nb", 2, both),
        ("ab\n\n", 3, both),
    ]
    cases.append(("}\n/x", 2, ("o200k_base",)))  # o200k's punctuation pieces swallow "\n/"
    for text, cut, names in cases:
        assert cut not in [m.start() for m in rule.finditer(text, 1)]
        for name in names:
            enc = reference[name]
            assert enc.encode_ordinary(text[:cut]) + enc.encode_ordinary(text[cut:]) != enc.encode_ordinary(text)


WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "it",
    "for",
    "on",
    "with",
    "as",
    "was",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "an",
    "not",
    "have",
    "but",
    "they",
    "which",
    "one",
    "you",
    "were",
    "all",
    "we",
    "when",
    "there",
    "can",
    "more",
    "if",
    "has",
    "been",
    "would",
    "their",
    "will",
    "so",
    "no",
    "model",
    "token",
    "count",
    "price",
    "request",
    "budget",
    "file",
    "stream",
    "chunk",
    "cache",
    "window",
    "prompt",
    "answer",
]
HANZI = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小"
    "么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知"
    "民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间"
    "新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼"
    "体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或"
    "司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认"
    "算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运"
    "武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持音"
    "却"
)


def _english(rng: random.Random, n_words: int) -> str:
    out = []
    for i in range(n_words):
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word = word.capitalize()
        if rng.random() < 0.03:
            word = rng.choice(["don't", "it's", "we're", "I'll", "2024", "3.14", "(see", "note)"])
        out.append(word)
        if rng.random() < 0.07:
            out.append(rng.choice([".", ",", ";", "!", "?"]) + ("\n" if rng.random() < 0.3 else ""))
        if i % 97 == 96:
            out.append("\n\n")
    return " ".join(out)


def _chinese(rng: random.Random, n_chars: int) -> str:
    out = []
    for i in range(n_chars):
        out.append(rng.choice(HANZI))
        if rng.random() < 0.06:
            out.append(rng.choice("，。、；：！？"))
        if i % 211 == 210:
            out.append("\n")
        if rng.random() < 0.01:
            out.append(rng.choice([" GPT-4o ", "2024年", "（注）", "「引用」"]))
    return "".join(out)


def _code() -> str:
    import json
    import pathlib

    return "".join(Path(m.__file__).read_text() for m in (json, pathlib, random, subprocess) if m.__file__)


def _whitespace(rng: random.Random, n_lines: int) -> str:
    out = []
    for _ in range(n_lines):
        indent = rng.choice(["", " ", "  ", "    ", "\t", "\t\t", "        ", " \t "])
        body = rng.choice(["", "x", "if a:", "}", "/* c */", "  ", "word  word", "a\tb", "   ", "// x", "/"])
        tail = rng.choice(["", " ", "   ", "\t"])
        end = rng.choice(["\n", "\n", "\r\n", "\n\n", "\n  \n", "\n\n\n\n"])
        out.append(indent + body + tail + end)
    return "".join(out)


@pytest.fixture(scope="module")
def corpora() -> dict[str, str]:
    rng = random.Random(1234)
    english = _english(rng, 120_000)
    chinese = _chinese(rng, 250_000)
    code = _code()
    whitespace = _whitespace(rng, 60_000)
    return {
        "english": english,
        "chinese": chinese,
        "code": code,
        "whitespace": whitespace,
        "mixed": "".join(s[: len(s) // 4] for s in (english, chinese, code, whitespace)),
    }


@pytest.mark.parametrize("kind", ["english", "chinese", "code", "whitespace", "mixed"])
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_count_file_equals_whole_count(
    kind: str, model: str, corpora: dict[str, str], tmp_path: Path, reference: dict[str, Any]
) -> None:
    text = corpora[kind]
    path = tmp_path / f"{kind}.txt"
    path.write_text(text, encoding="utf-8")
    name = tokens.encoding_name(model)[0]
    whole = len(reference[name].encode_ordinary(text))
    # small chunks: hundreds of cuts per file
    assert tokens.count_file(path, model, workers=2, chunk_bytes=8192) == whole
    assert tokens.count_file(path, model, workers=1, chunk_bytes=65536) == whole


@HYPOTHESIS
@given(data=st.binary(max_size=3000), chunk=st.integers(16, 700))
def test_count_file_bytes_property(data: bytes, chunk: int, reference: dict[str, Any]) -> None:
    """Arbitrary bytes (invalid UTF-8, split characters) with tiny chunks: the count is
    that of the whole file decoded with errors="replace"."""
    import io

    expected = len(reference["o200k_base"].encode_ordinary(data.decode("utf-8", "replace")))
    assert tokens.count_file(io.BytesIO(data), "gpt-4o", workers=2, chunk_bytes=chunk) == expected


@HYPOTHESIS
@given(parts=st.lists(tricky_text, max_size=12), chunk=st.integers(16, 400))
def test_count_file_text_property(parts: list[str], chunk: int, reference: dict[str, Any]) -> None:
    import io

    text = "".join(parts)
    expected = len(reference["cl100k_base"].encode_ordinary(text))
    assert tokens.count_file(io.BytesIO(text.encode()), "gpt-4", workers=2, chunk_bytes=chunk) == expected


def test_list_free_counter_agrees_with_encode_ordinary(corpora: dict[str, str], reference: dict[str, Any]) -> None:
    for name in ("o200k_base", "cl100k_base"):
        counter = files._counter(tokens.get_encoding(name))
        assert counter.__name__ == "buffered"  # tiktoken 0.14 has the buffer encoder
        for text in [*corpora.values(), "a <|endoftext|> b <|fim_prefix|>", ""]:
            assert counter(text[:300_000]) == len(reference[name].encode_ordinary(text[:300_000]))


def test_counter_falls_back_to_encode_ordinary() -> None:
    class Plain:
        def encode_ordinary(self, text: str) -> list[int]:
            return [0] * len(text.split())

    class Broken(Plain):
        class _core_bpe:  # mimics the attribute of tiktoken.Encoding
            @staticmethod
            def encode_to_tiktoken_buffer(text: str, allowed: set[str]) -> bytes:
                return b"\0" * 12  # a buffer that disagrees with encode_ordinary

    for fake in (Plain(), Broken()):
        counter = files._counter(fake)  # type: ignore[arg-type]
        assert counter.__name__ == "ordinary" and counter("a b c") == 3


def test_chunks_stay_bounded(corpora: dict[str, str]) -> None:
    text = corpora["mixed"] * 2
    blocks = [text.encode()[i : i + 4096] for i in range(0, len(text.encode()), 4096)]
    sizes = [len(c) for c in files._chunks(blocks, files._split_rule("o200k_base"), 4096)]
    assert sum(sizes) == len(text)
    assert max(sizes) < 4 * 4096


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.slow  # 24 MB counted on both cores in a real process
def test_count_file_memory_is_bounded(tmp_path: Path, corpora: dict[str, str]) -> None:
    """24 MB counted whole would need ~1 GB (a Python int per token); chunked it stays small."""
    path = tmp_path / "big.txt"
    unit = corpora["mixed"].encode()
    with open(path, "wb") as f:
        for _ in range(24_000_000 // len(unit) + 1):
            f.write(unit)
    # VmHWM, not getrusage: Linux carries ru_maxrss over from the forking parent (this
    # pytest process, itself a few hundred MB) into the exec'd child.
    code = (
        "import re, sys\n"
        "from gptcli import tokens\n"
        "n = tokens.count_file(sys.argv[1], 'gpt-4o')\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())\n"
        "print(n, int(hwm.group(1)) // 1024)\n"
    )
    full_env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=full_env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    count, peak_mb = map(int, done.stdout.split())
    assert count > 1_000_000
    assert peak_mb < 300, f"peak RSS {peak_mb} MB"


def test_count_file_without_any_allowed_cut(reference: dict[str, Any]) -> None:
    """Only whitespace: no cut is exact, so the run is held whole (and counted right)."""
    import io

    text = ("  \n\t " * 60_000)[:300_000]
    rule = files._split_rule("o200k_base")
    assert rule is not None and rule.search(text) is None
    expected = len(reference["o200k_base"].encode_ordinary(text))
    assert tokens.count_file(io.BytesIO(text.encode()), "gpt-4o", workers=2, chunk_bytes=4096) == expected
    assert [len(c) for c in files._chunks([text.encode()], files._split_rule("o200k_base"), 4096)] == [len(text)]


def test_small_file_and_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert tokens.count_file(empty, "gpt-4o") == 0
    small = tmp_path / "small.txt"
    small.write_text("hello world\n")
    assert tokens.count_file(small, "gpt-4o") == tokens.count_text("hello world\n", "gpt-4o")


# ---------------------------------------------------------------------------------------
# 6. offline: fail fast, never hang, never touch the network


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    # tiktoken's own (timeout-less) downloader must never run either
    import tiktoken.load

    monkeypatch.setattr(tiktoken.load, "read_file", refuse)
    return attempts


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    empty = tmp_path / "tiktoken-empty"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.setenv("GPTCLI_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(bundled, "DATA_DIR", tmp_path / "nothing-shipped")
    tokens.clear_cache()
    yield empty
    tokens.clear_cache()


@pytest.mark.parametrize("name", sorted(bundled.PUBLISHED))
def test_shipped_ranks_are_tiktokens_published_files(name: str) -> None:
    _, sha256 = encodings._spec(name).bpe or ("", None)
    assert bundled.PUBLISHED[name] == sha256  # the hash tiktoken itself pins
    bundled.verify(name)
    assert bundled.load(name) == tokens.get_encoding(name)._mergeable_ranks


def test_shipped_ranks_count_offline_with_no_cache_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    empty = tmp_path / "tiktoken-empty"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.setenv("GPTCLI_HOME", str(tmp_path / "home"))
    tokens.clear_cache()
    try:
        assert tokens.count_text("hi", "gpt-4o") == 1
        assert tokens.count_messages(COOKBOOK_MESSAGES, "gpt-4") == 129  # cl100k_base
        assert no_network == [] and list(empty.iterdir()) == []
    finally:
        tokens.clear_cache()


def test_a_damaged_shipped_file_is_refused(tmp_path: Path) -> None:
    data = bytearray(bundled.path_for("cl100k_base").read_bytes())
    data[-100] ^= 0xFF
    with pytest.raises(ValueError, match="damaged"):
        bundled.decode(bytes(data))


def test_offline_without_encoding_file_fails_fast(empty_caches: Path, no_network: list[str]) -> None:
    started = time.monotonic()
    with pytest.raises(tokens.EncodingUnavailable) as info:
        tokens.count_text("x" * 20_000, "gpt-4o")
    assert time.monotonic() - started < 3
    err = info.value
    assert isinstance(err, ConfigError) and err.exit_code == ExitCode.CONFIG
    assert "TIKTOKEN_CACHE_DIR" in str(err) and "\n" not in str(err)
    assert list(empty_caches.iterdir()) == []  # nothing half-written


def test_offline_without_download_never_opens_a_socket(empty_caches: Path, no_network: list[str]) -> None:
    with pytest.raises(tokens.EncodingUnavailable):
        tokens.get_encoding("o200k_base", download=False)
    with pytest.raises(tokens.EncodingUnavailable):
        tokens.count_text("hi", "gpt-4o")  # the small-text path needs the rank cache too
    assert budget.Counter("gpt-4o").count([{"role": "user", "content": "hello there"}]).encoding is None  # estimated
    assert no_network == [] or all("openaipublic" in a for a in no_network)


def test_offline_with_damaged_encoding_file(empty_caches: Path, no_network: list[str]) -> None:
    import hashlib

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    (empty_caches / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"aGk= 0\n")  # wrong sha256
    with pytest.raises(tokens.EncodingUnavailable):
        tokens.get_encoding("o200k_base")


def test_offline_in_a_fresh_process_has_no_traceback(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('offline')\n"
        "socket.getaddrinfo = refuse\n"
        "from gptcli import tokens\n"
        "try:\n"
        "    tokens.count_text('some text', 'text-davinci-003')\n"  # p50k_base: not shipped
        "except tokens.EncodingUnavailable as e:\n"
        "    print('unavailable:', e.message)\n"
    )
    started = time.monotonic()
    done = _child(code, TIKTOKEN_CACHE_DIR=str(empty), GPTCLI_HOME=str(tmp_path / "home"))
    assert time.monotonic() - started < 10
    assert done.returncode == 0 and done.stdout.startswith("unavailable:"), done.stderr
    assert "Traceback" not in done.stderr


def test_budget_count_falls_back_to_an_estimate(empty_caches: Path, no_network: list[str]) -> None:
    warnings: list[str] = []
    result = budget.Counter("gpt-4o", warn=warnings.append).count(COOKBOOK_MESSAGES)
    assert result.encoding is None and not result.exact and len(warnings) == 1
    assert 0.7 * 124 < result.tokens < 1.6 * 124


# ---------------------------------------------------------------------------------------
# bounds and estimates

message_strategy = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": tricky_text},
    optional={"name": st.text(alphabet="abc_xyz", min_size=1, max_size=10)},
)


@HYPOTHESIS
@given(messages=st.lists(message_strategy, max_size=5))
def test_upper_bound_is_never_below_the_count(messages: list[dict[str, str]]) -> None:
    for model in ("gpt-4o", "gpt-4", "gpt-3.5-turbo-0301", "llama3"):
        exact = tokens.count_messages(messages, model)
        assert tokens.upper_bound_tokens(messages) >= exact
        assert tokens.upper_bound_tokens(messages, model=model) >= exact
        assert tokens.upper_bound_tokens(messages, tools=COOKBOOK_TOOLS) >= tokens.count_messages(
            messages, model, tools=COOKBOOK_TOOLS
        )


def test_upper_bound_needs_no_tiktoken() -> None:
    done = _child(
        "import sys\nfrom gptcli import tokens\n"
        "print(tokens.upper_bound_tokens([{'role': 'user', 'content': 'hi'}]))\n"
        "print(tokens.approx_tokens('hello world'))\n"
        "assert 'tiktoken' not in sys.modules and 'genai_prices' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == str(4 + len("user") + len("hi") + 3)


def test_importing_tokens_imports_neither_tiktoken_nor_genai_prices() -> None:
    done = _child(
        "import sys, gptcli.tokens\nprint(sorted(m for m in sys.modules if m.startswith(('tiktoken', 'genai'))))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", ["english", "chinese", "code"])
def test_approx_tokens_is_in_the_right_range(kind: str, corpora: dict[str, str]) -> None:
    text = corpora[kind][:200_000]
    exact = tokens.count_text(text, "gpt-4o")
    assert 0.8 * exact <= tokens.approx_tokens(text) <= 1.8 * exact


# ---------------------------------------------------------------------------------------
# 7. prices and cost


@pytest.mark.parametrize(
    ("model", "price", "window"),
    [
        ("gpt-4o", Price(2.5, 1.25, 10.0), 128_000),
        ("gpt-4o-mini", Price(0.15, 0.075, 0.6), 128_000),
        ("gpt-4.1", Price(2.0, 0.5, 8.0), 1_000_000),
        ("o3", Price(2.0, 0.5, 8.0), 200_000),
        ("gpt-5", Price(1.25, 0.125, 10.0), 400_000),
    ],
)
def test_genai_prices(model: str, price: Price, window: int) -> None:
    for base_url in (None, "https://api.openai.com/v1"):
        info = prices.model_info(model, base_url)
        assert info.price == price
        assert info.context_window == window
        assert info.matched == model
        assert info.source == "genai-prices"


def test_profile_price_wins() -> None:
    mine = Price(input=1.0, cached_input=None, output=2.0)
    info = prices.model_info("gpt-4o", None, price=mine)
    assert info.price == mine and info.source == "profile"
    assert info.context_window == 128_000  # still known from the price data
    both = prices.model_info("gpt-4o", None, price=mine, context_window=4096)
    assert (both.price, both.context_window, both.source) == (mine, 4096, "profile")
    local = prices.model_info("llama3", "http://localhost:11434/v1", price=Price(0.0, 0.0, 0.0), context_window=8192)
    assert local.price == Price(0.0, 0.0, 0.0) and local.context_window == 8192


@pytest.mark.parametrize(
    ("model", "base_url"),
    [
        ("llama3", "http://localhost:11434/v1"),
        ("my-finetune", None),
        ("llama3", None),
    ],
)
def test_unknown_price_is_never_invented(model: str, base_url: str | None) -> None:
    """(A known model behind an unknown URL is priced by its name, said so: ``assumed``.)"""
    info = prices.model_info(model, base_url)
    assert info.price is None and info.source is None and info.matched is None
    assert prices.cost(info.price, 1000, 1000) is None
    assert prices.cost_range(info.price, 1000, 100) == (None, None)


def test_third_party_provider_and_fine_tune() -> None:
    deepseek = prices.model_info("deepseek-chat", "https://api.deepseek.com/v1")
    assert deepseek.price is not None and deepseek.matched == "deepseek-chat"
    tuned = prices.model_info("ft:gpt-4o-mini-2024-07-18:org::x")
    assert tuned.price is not None and tuned.matched == "ft:gpt-4o-mini"
    assert tuned.context_window == 128_000  # from the base model


def test_long_context_tiers() -> None:
    info = prices.model_info("gpt-5.4")
    assert info.price is not None and info.tiers
    start, above = info.tiers[0]
    assert start == 272_000
    assert info.price_for(1000) == info.price
    high = info.price_for(start + 1)
    assert high == above and high is not None and high.input is not None and info.price.input is not None
    assert high.input > info.price.input


def test_cost_arithmetic() -> None:
    price = Price(input=2.5, cached_input=1.25, output=10.0)
    # reference 3: gpt-4o, 10k input of which 4k cached, 1k output -> $0.030
    assert prices.cost(price, 10_000, 1_000, cached_tokens=4_000) == pytest.approx(0.030)
    assert prices.cost(price, 1_000_000, 0) == pytest.approx(2.5)
    assert prices.cost(price, 0, 1_000_000) == pytest.approx(10.0)
    # no cached price: cached tokens at the input price; more cached than prompt is clamped
    assert prices.cost(Price(2.0, None, 8.0), 1000, 0, cached_tokens=500) == pytest.approx(0.002)
    assert prices.cost(price, 100, 0, cached_tokens=1000) == pytest.approx(100 * 1.25 / 1e6)
    assert prices.cost(None, 1, 1) is None
    assert prices.cost(Price(1.0, None, None), 1, 1) is None


def test_cost_range_n_multiplies_output_only() -> None:
    price = Price(input=1.0, cached_input=0.5, output=4.0)
    low, high = prices.cost_range(price, 1_000, 500, n=3)
    assert low == pytest.approx(1_000 * 1.0 / 1e6)
    assert high == pytest.approx((1_000 * 1.0 + 3 * 500 * 4.0) / 1e6)
    low, high = prices.cost_range(price, 1_000, None)
    assert low == pytest.approx(0.001) and high is None


def test_model_info_to_dict() -> None:
    info = prices.model_info("gpt-4o")
    assert info.to_dict()["price"] == {"input": 2.5, "cached_input": 1.25, "output": 10.0}
