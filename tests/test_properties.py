"""Property-based tests (hypothesis): the JSONL store and profile precedence.

* Any text (newlines, NULs, escapes, any non-surrogate code point) round-trips through
  ``store.Writer`` and ``store.load``.
* A file cut at any byte offset (a crash mid-write) loses only the record that was cut;
  the next append repairs the tail, and the fragment is never glued to the new record.
* Profile settings resolve as flags > env > profile > what it extends > defaults, for any
  mix of layers.

In-process and small (max_examples 50-100) so the whole file takes a few seconds.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptcli import jsonl, profiles, store
from gptcli.models import Profile

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any code point but surrogates (not encodable in UTF-8); NUL, controls, U+2028 included.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
ROLES = st.sampled_from(["system", "user", "assistant"])


@contextmanager
def gptcli_home() -> Iterator[Path]:
    """A fresh GPTCLI_HOME per example (the autouse fixture gives one per test, not per example)."""
    old = os.environ.get("GPTCLI_HOME")
    with tempfile.TemporaryDirectory() as d:
        os.environ["GPTCLI_HOME"] = d
        try:
            yield Path(d)
        finally:
            if old is None:
                os.environ.pop("GPTCLI_HOME", None)
            else:
                os.environ["GPTCLI_HOME"] = old


# --- the JSONL store ---------------------------------------------------------------------------


@FAST
@given(
    st.lists(st.tuples(ROLES, TEXT), min_size=1, max_size=8), st.dictionaries(st.text(max_size=10), TEXT, max_size=3)
)
def test_any_text_round_trips_through_the_store(messages: list[tuple[str, str]], extra: dict[str, str]) -> None:
    with gptcli_home():
        writer = store.create("default", {"model": "m", "note": extra})
        for role, content in messages:
            writer.message(role, content)
        writer.close()
        conv = store.load(writer.id)
        assert conv.warnings == []
        assert [(r["role"], r["content"]) for r in conv.records] == messages
        assert conv.meta["settings"]["note"] == extra
        # One line per record, whatever the text: no raw line break of any kind inside a record.
        text = writer.path.read_text(encoding="utf-8")
        assert len(text.splitlines()) == len(messages) + 1


RECORD = st.fixed_dictionaries({"i": st.integers(0, 10**6), "text": TEXT})


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


@FAST
@given(st.lists(RECORD, min_size=1, max_size=6), st.data())
def test_a_cut_at_any_byte_loses_only_the_cut_record(records: list[dict[str, Any]], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "log.jsonl"
        with jsonl.Appender(path) as out:
            for rec in records:
                out.write(rec)
        whole = path.read_bytes()
        cut = data.draw(st.integers(0, len(whole)), label="cut")
        path.write_bytes(whole[:cut])
        # Which records were entirely written before the cut (their newline may be missing).
        ends = [i for i, b in enumerate(whole) if b == 0x0A]
        complete = sum(1 for e in ends if e <= cut)  # ends at e: bytes [.., e) hold the record
        bad: list[jsonl.BadLine] = []
        got = [rec for _, rec in jsonl.read(path, bad)]
        assert got == records[:complete]
        assert len(bad) <= 1 and all(b.last for b in bad)
        # The next append repairs the tail: the new record is whole, the fragment stays apart.
        new = {"i": -1, "text": "after the crash\n"}
        with jsonl.Appender(path) as out:
            out.write(new)
        bad = []
        got = [rec for _, rec in jsonl.read(path, bad)]
        assert got == [*records[:complete], new]
        assert len(bad) <= 1 and not any(b.last for b in bad)  # a torn line is now a middle line
        assert path.read_bytes().endswith(b"\n")
        # Every surviving line is either a whole record or exactly the fragment.
        fragment = whole[whole.rfind(b"\n", 0, cut) + 1 : cut] if cut else b""
        for line in _lines(path):
            if line:
                try:
                    json.loads(line)
                except ValueError:
                    assert line == fragment


@FAST
@given(TEXT, st.integers(1, 50))
def test_a_torn_conversation_tail_is_tolerated_by_load(content: str, cut_from_end: int) -> None:
    with gptcli_home():
        writer = store.create("default", {})
        writer.message("user", "question")
        writer.message("assistant", content)
        writer.close()
        data = writer.path.read_bytes()
        cut = max(len(data) - cut_from_end, data.index(b"\n") + 1)
        writer.path.write_bytes(data[:cut])
        conv = store.load(writer.id)  # never raises
        assert [r["role"] for r in conv.records][:1] == ["user"] or conv.records == []
        assert len(conv.records) <= 2


# --- profile precedence --------------------------------------------------------------------------

MODEL = st.sampled_from(["gpt-4o", "gpt-4o-mini", "o3", "llama3.2", "qwen3:8b"])
URL = st.sampled_from(["http://127.0.0.1:1/v1", "https://api.example.com/v1", "http://localhost:11434/v1"])
SETTINGS = {
    "model": MODEL,
    "base_url": URL,
    "temperature": st.sampled_from([0.0, 0.2, 0.7, 1.5, 2.0]),
    "top_p": st.sampled_from([0.1, 0.5, 1.0]),
    "max_tokens": st.integers(1, 4096),
    "seed": st.integers(-5, 5),
    "timeout": st.sampled_from([1.0, 30.0, 600.0]),
    "max_retries": st.integers(0, 5),
    "system": st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
}
ENV_VARS = {"model": "GPTCLI_MODEL", "base_url": "GPTCLI_BASE_URL"}
PARAMS = st.dictionaries(st.sampled_from(["top_k", "min_p", "repeat_penalty", "tag"]), st.integers(0, 9), max_size=3)


def layer(keys: list[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    names = keys or list(SETTINGS)
    return st.fixed_dictionaries({}, optional={k: SETTINGS[k] for k in names})


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@settings(max_examples=100, deadline=None)
@given(
    parent=layer(),
    child=layer(),
    env=layer(["model", "base_url"]),
    flags=layer(),
    openai_base_url=st.one_of(st.none(), URL),
    parent_params=PARAMS,
    child_params=PARAMS,
    flag_params=PARAMS,
)
def test_precedence_flags_env_profile_extends_defaults(
    parent: dict[str, Any],
    child: dict[str, Any],
    env: dict[str, Any],
    flags: dict[str, Any],
    openai_base_url: str | None,
    parent_params: dict[str, int],
    child_params: dict[str, int],
    flag_params: dict[str, int],
) -> None:
    with gptcli_home() as home:
        d = home / "config" / "profiles"
        d.mkdir(parents=True)
        (d / "parent.toml").write_text(tomli_w.dumps({**parent, "params": parent_params}), encoding="utf-8")
        (d / "child.toml").write_text(
            tomli_w.dumps({"extends": "parent", **child, "params": child_params}), encoding="utf-8"
        )
        env_vars = {ENV_VARS[k]: str(v) for k, v in env.items()}
        env_vars["OPENAI_BASE_URL"] = openai_base_url or ""
        with environment(env_vars):
            prof = profiles.resolve("child", {**flags, "params": flag_params or None})
        defaults = Profile()
        for key in SETTINGS:
            layers = [("flag", flags), ("env", env), ("child", child), ("parent", parent)]
            expected, source = next(((lay[key], name) for name, lay in layers if key in lay), (None, "default"))
            if source == "default":
                if key == "base_url" and openai_base_url:
                    expected, source = openai_base_url, "env OPENAI_BASE_URL"
                else:
                    expected = getattr(defaults, key)
            got = getattr(prof, key)
            if key == "base_url" and isinstance(expected, str):
                expected = expected.rstrip("/")
            assert got == expected, (key, source)
            where = prof.sources[key]
            if source == "flag":
                assert where == "flag"
            elif source == "env":
                assert where == f"env {ENV_VARS[key]}"
            elif source in ("child", "parent"):
                assert f"{source}.toml" in where
            else:
                assert where == source
        # [params] tables merge key by key, the higher layer winning each key.
        assert prof.params == {**parent_params, **child_params, **flag_params}
