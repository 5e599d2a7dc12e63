"""Counting large files: bounded memory, cuts that keep the count exact, all cores."""

from __future__ import annotations

import codecs
import functools
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING

from gptcli.tokens.encodings import count_strings, encoding_name, get_encoding

if TYPE_CHECKING:
    import tiktoken

# count_file reads this much at a time and hands chunks of about this size to workers.
_CHUNK_BYTES = 1 << 20


@functools.cache
def _split_rule(encoding: str) -> re.Pattern[str] | None:
    """Where a text may be cut so that count(a) + count(b) == count(a + b).

    tiktoken splits text into pieces with a regex and BPE-encodes each piece alone, so a
    cut is exact when (1) no piece of a + b spans it and (2) a alone is split as the
    front of a + b. The pieces of b are then the same too (the regexes have no
    lookbehind). For o200k_base and cl100k_base these cuts qualify, between x and y:

    * x not whitespace, y a space or tab. Only whitespace pieces contain spaces, and
      the only piece that runs from non-whitespace into whitespace is a punctuation run
      followed by newlines (and "/" in o200k). A ends in non-whitespace, so the
      ``\\s+(?!\\S)`` lookahead and cl100k's ``\\s++$`` never see its end.
    * x a newline, y neither whitespace nor "/". A piece holding the newline is
      whitespace ending in newlines, or punctuation + ``[\\r\\n/]*``; neither takes y. At
      the end of a, the whitespace run ending in "\\n" is one piece either way:
      ``\\s*[\\r\\n]+`` (o200k) and ``\\s*[\\r\\n]`` / ``\\s++$`` (cl100k) all take it whole.
    * x a letter (or other non-decimal alphanumeric), y ASCII or CJK punctuation other
      than the apostrophe: letter pieces take only letters, marks and contractions.
    * x an ASCII digit, y a printable ASCII non-digit: digit pieces take only digits.

    "Not whitespace" is Python's ``\\S`` (``not str.isspace()``), a subset of Unicode's
    non-White_Space, so a doubtful character never allows a cut. Other encodings (legacy
    r50k/p50k/gpt2, whose regex differs) get no cuts: their files are read whole.
    """
    if encoding not in ("o200k_base", "o200k_harmony", "cl100k_base"):
        return None
    return re.compile(
        r"(?<=\S)[ \t]"
        r"|(?<=\n)[^\s/]"
        r"|(?<=[^\W\d_])[!-&(-/:-@\[-`{-~，。、；：！？（）「」《》]"
        r"|(?<=[0-9])[!-/:-~]"
    )


def _last_cut(text: str, rule: re.Pattern[str]) -> int:
    """The last exact cut in ``text`` (> 0), or -1. Searches backwards in growing windows."""
    window = 256
    while True:
        start = max(1, len(text) - window)
        last = -1
        for match in rule.finditer(text, start):
            last = match.start()
        if last > 0 or start == 1:
            return last
        window *= 8


def _chunks(blocks: Iterable[bytes], rule: re.Pattern[str] | None, size: int) -> Iterator[str]:
    """The decoded text of ``blocks`` in pieces of about ``size``, cut only where
    ``rule`` allows (never, if it is None).

    Memory stays near a few chunks, except while a stretch without any allowed cut
    (one huge whitespace run, say) has to be held whole. Each block is searched once,
    so such a stretch costs linear time, not quadratic.
    """
    # The incremental decoder gives the same text as decoding everything at once, even
    # when a block ends inside a character or on invalid bytes.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    held: list[str] = []
    length = 0  # characters held
    cut_at = -1  # the last allowed cut in the text held
    last = ""  # the last character held: a cut depends on the characters on both sides
    for block in blocks:
        text = decoder.decode(block)
        if not text:
            continue
        if rule is not None:
            k = _last_cut(last + text, rule)
            if k > 0:
                cut_at = length - len(last) + k
        held.append(text)
        length += len(text)
        last = text[-1]
        if cut_at > 0 and length >= size // 2:
            whole = "".join(held)
            yield whole[:cut_at]
            rest = whole[cut_at:]  # no allowed cut in here: cut_at was the last one
            held, length, cut_at = [rest], len(rest), -1
    held.append(decoder.decode(b"", final=True))
    if tail := "".join(held):
        yield tail


def _blocks(stream: IO[bytes], size: int, first: bytes) -> Iterator[bytes]:
    if first:
        yield first
    while block := stream.read(size):
        yield block


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def count_file(
    path: str | os.PathLike[str] | IO[bytes],
    model: str,
    encoding: str | None = None,
    workers: int | None = None,
    *,
    chunk_bytes: int = _CHUNK_BYTES,
) -> int:
    """Tokens of a UTF-8 file (invalid bytes count as U+FFFD), equal to
    ``count_text(data.decode("utf-8", "replace"), ...)`` but in bounded memory.

    The file is read in blocks, cut only where the count stays exact (``_split_rule``),
    and the chunks are encoded on ``workers`` threads (default: one per available core;
    tiktoken's encoder releases the GIL while it works).
    """
    name = encoding_name(model, encoding)[0]
    if hasattr(path, "read"):
        return _count_stream(path, name, workers, chunk_bytes)  # type: ignore[arg-type]
    with open(path, "rb") as stream:
        return _count_stream(stream, name, workers, chunk_bytes)


def _counter(enc: tiktoken.Encoding) -> Callable[[str], int]:
    """``len(enc.encode_ordinary(text))``, without building the list when possible.

    Turning millions of tokens into Python ints happens with the GIL held (about a tenth
    of the encode time), which is what keeps threads from scaling. tiktoken's buffer
    encoder (behind ``encode_to_numpy``) skips that; with no special token allowed it
    encodes like ``encode_ordinary``. It is not public API, so it is used only if present
    and if it agrees with ``encode_ordinary`` on a probe. Its buffer reports a wrong
    shape in tiktoken 0.14 but the right byte length, hence the cast to bytes.
    """

    def ordinary(text: str) -> int:
        return len(enc.encode_ordinary(text))

    encode_buffer = getattr(getattr(enc, "_core_bpe", None), "encode_to_tiktoken_buffer", None)
    if encode_buffer is None:
        return ordinary

    def buffered(text: str) -> int:
        return len(memoryview(encode_buffer(text, set())).cast("B")) // 4

    probe = "gptcli probe: <|endoftext|> don't  \n\n 你好，世界 12345 /* x */\t"
    try:
        if buffered(probe) == ordinary(probe) and buffered("") == 0:
            return buffered
    except Exception:  # any surprise in a private API: use the public one
        pass
    return ordinary


def _count_stream(stream: IO[bytes], name: str, workers: int | None, chunk_bytes: int) -> int:
    head = stream.read(chunk_bytes)
    rest = stream.read(1)
    if not rest:  # small: maybe the subset fast path, and no threads
        return count_strings([head.decode("utf-8", "replace")], name)
    count = _counter(get_encoding(name))
    from concurrent.futures import Future, ThreadPoolExecutor

    chunks = _chunks(_blocks(stream, chunk_bytes, head + rest), _split_rule(name), chunk_bytes)
    n_workers = workers or _default_workers()
    if n_workers <= 1:
        return sum(count(chunk) for chunk in chunks)
    total = 0
    in_flight: deque[Future[int]] = deque()
    with ThreadPoolExecutor(n_workers, thread_name_prefix="gptcli-count") as pool:
        for chunk in chunks:
            in_flight.append(pool.submit(count, chunk))
            # Bounded read-ahead: memory stays at ~2 chunks per worker.
            if len(in_flight) >= 2 * n_workers:
                total += in_flight.popleft().result()
        while in_flight:
            total += in_flight.popleft().result()
    return total
