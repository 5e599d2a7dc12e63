"""gptcli's own on-disk cache of tiktoken BPE ranks: fast to load, stdlib only.

tiktoken spends most of a cold ``get_encoding`` in Python: reading the ``.tiktoken``
file, checking its sha256 and base64-decoding 200k lines (about 0.11 s for o200k_base).
This module parses that file once and keeps two files per source hash under
``settings.cache_dir()/tiktoken``:

* ``ranks-v1-<sha16>-py311.marshal``: the ``{token bytes: rank}`` dict as one marshal
  blob (loads in about 25 ms). Marshal's format is tied to the Python version, hence
  the tag in the name.
* ``ranks-v1-<sha16>.index``: an mmap-able open-addressing hash table of the same ranks
  plus a bitset of every token prefix. It answers "which vocabulary tokens occur in this
  short text?" without loading the dict, so a tiny count can build a BPE from a handful
  of tokens instead of 200k (see ``RankIndex.subset`` for why that is exact).

Both are keyed by the sha256 that tiktoken pins for the source file, so their content is
a pure function of the name: they never go stale. They are written atomically
(``jsonl.atomic_write``) and carry a length and CRC, so a torn or damaged file is ignored and
rebuilt, never trusted. This module never touches the network and never imports tiktoken.
"""

from __future__ import annotations

import binascii
import marshal
import mmap
import struct
import sys
import zlib
from pathlib import Path

FORMAT = 1
_MARSHAL_MAGIC = b"GPTCLIRM"
_INDEX_MAGIC = b"GPTCLIRX"
# magic, format, crc32 of payload, payload length, number of tokens
_MARSHAL_HEADER = struct.Struct("<8sIIQI")
# magic, format, n_tokens, log2(buckets), log2(prefix bits), max token length, blob length,
# crc32 of everything after the header
_INDEX_HEADER = struct.Struct("<8sIIIIIII")
_INDEX_HEADER_SIZE = 64


def cache_paths(cache_dir: Path, source_sha256: str) -> tuple[Path, Path]:
    """(marshal path, index path) for the ranks of the source file with this sha256."""
    stem = f"ranks-v{FORMAT}-{source_sha256[:16]}"
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return cache_dir / f"{stem}-{tag}.marshal", cache_dir / f"{stem}.index"


def parse_tiktoken_bpe(data: bytes) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (``base64 rank`` per line) exactly as tiktoken does."""
    ranks: dict[bytes, int] = {}
    a2b = binascii.a2b_base64  # what base64.b64decode calls, minus a layer of Python
    for line in data.splitlines():
        if not line:
            continue
        token, rank = line.split()
        ranks[a2b(token)] = int(rank)
    return ranks


# ---------------------------------------------------------------------------------------
# marshal blob: the whole dict, for real encoders


def write_marshal(path: Path, ranks: dict[bytes, int]) -> None:
    payload = marshal.dumps(ranks)
    header = _MARSHAL_HEADER.pack(_MARSHAL_MAGIC, FORMAT, zlib.crc32(payload), len(payload), len(ranks))
    from gptcli.jsonl import atomic_write

    atomic_write(path, [header, payload])


def read_marshal(path: Path) -> dict[bytes, int] | None:
    """The cached ranks, or None when the file is missing, foreign or damaged."""
    try:
        with open(path, "rb", buffering=0) as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < _MARSHAL_HEADER.size:
        return None
    magic, fmt, crc, length, count = _MARSHAL_HEADER.unpack_from(data)
    payload = memoryview(data)[_MARSHAL_HEADER.size :]
    if magic != _MARSHAL_MAGIC or fmt != FORMAT or len(payload) != length:
        return None
    if zlib.crc32(payload) != crc:
        return None
    try:
        ranks = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(ranks, dict) or len(ranks) != count:
        return None
    return ranks


# ---------------------------------------------------------------------------------------
# mmap index: membership of single tokens, for tiny texts


def _log2_at_least(n: int) -> int:
    bits = 1
    while (1 << bits) < n:
        bits += 1
    return bits


def write_index(path: Path, ranks: dict[bytes, int]) -> None:
    """Write the hash table + prefix bitset described in the module docstring."""
    if sys.byteorder != "little":  # the reader casts to native uint32; keep it simple
        return
    tokens = sorted(ranks, key=ranks.__getitem__)
    n = len(tokens)
    bucket_bits = _log2_at_least(n * 5 // 2)  # load factor <= 0.4: short probe chains
    nb = 1 << bucket_bits
    buckets = [0] * nb
    offsets = [0] * (n + 1)
    blob = bytearray()
    crc32 = zlib.crc32
    mask = nb - 1
    for i, tok in enumerate(tokens):
        offsets[i] = len(blob)
        blob += tok
        slot = crc32(tok) & mask
        while buckets[slot]:
            slot = (slot + 1) & mask
        buckets[slot] = i + 1
    offsets[n] = len(blob)

    # Every prefix of every token (tokens included). A text position whose running
    # substring is not in here cannot start a longer token, so the scan stops early.
    prefixes = {tok[:j] for tok in tokens for j in range(1, len(tok) + 1)}
    prefix_bits = _log2_at_least(len(prefixes) * 16)  # ~6% false positives, harmless
    bitset = bytearray(1 << (prefix_bits - 3))
    shift = 32 - prefix_bits
    for p in prefixes:
        k = crc32(p) >> shift
        bitset[k >> 3] |= 1 << (k & 7)

    body = [
        struct.pack(f"<{nb}I", *buckets),
        struct.pack(f"<{n + 1}I", *offsets),
        struct.pack(f"<{n}I", *(ranks[t] for t in tokens)),
        bytes(bitset),
        bytes(blob),
    ]
    crc = 0
    for part in body:
        crc = zlib.crc32(part, crc)
    max_len = max((len(t) for t in tokens), default=0)
    header = _INDEX_HEADER.pack(_INDEX_MAGIC, FORMAT, n, bucket_bits, prefix_bits, max_len, len(blob), crc).ljust(
        _INDEX_HEADER_SIZE, b"\0"
    )
    from gptcli.jsonl import atomic_write

    atomic_write(path, [header, *body])


class RankIndex:
    """Read-only view of an index file; ``open`` returns None if it is unusable."""

    def __init__(self, mm: mmap.mmap, header: tuple[int, ...]) -> None:
        _, _, n, bucket_bits, prefix_bits, max_len, blob_len, _ = header
        self._mm = mm
        self._mask = (1 << bucket_bits) - 1
        self._shift = 32 - prefix_bits
        self.max_len = max_len
        self._view = view = memoryview(mm)
        pos = _INDEX_HEADER_SIZE
        nb = 1 << bucket_bits
        self._buckets = view[pos : pos + 4 * nb].cast("I")
        pos += 4 * nb
        self._offsets = view[pos : pos + 4 * (n + 1)].cast("I")
        pos += 4 * (n + 1)
        self._ranks = view[pos : pos + 4 * n].cast("I")
        pos += 4 * n
        self._bits = view[pos : pos + (1 << (prefix_bits - 3))]
        pos += 1 << (prefix_bits - 3)
        self._blob = view[pos : pos + blob_len]

    @classmethod
    def open(cls, path: Path) -> RankIndex | None:
        if sys.byteorder != "little":
            return None
        try:
            with open(path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # missing, or empty (mmap of length 0)
            return None
        try:
            header = _INDEX_HEADER.unpack_from(mm)
            magic, fmt, n, bucket_bits, prefix_bits, _, blob_len, crc = header
            size = _INDEX_HEADER_SIZE + 4 * ((1 << bucket_bits) + 2 * n + 1) + (1 << (prefix_bits - 3)) + blob_len
            if magic != _INDEX_MAGIC or fmt != FORMAT or len(mm) != size:
                raise ValueError("foreign or truncated index")
            # 5 MB at memory speed (~2 ms): cheap insurance against a damaged file
            # silently producing wrong counts.
            if zlib.crc32(memoryview(mm)[_INDEX_HEADER_SIZE:]) != crc:
                raise ValueError("index checksum mismatch")
        except (ValueError, struct.error):
            mm.close()
            return None
        return cls(mm, header)

    def _rank(self, piece: bytes, h: int) -> int:
        """Rank of ``piece`` (whose crc32 is ``h``), or -1 if it is not a token."""
        buckets, offsets, blob, mask = self._buckets, self._offsets, self._blob, self._mask
        slot = h & mask
        while True:
            entry = buckets[slot]
            if not entry:
                return -1
            i = entry - 1
            if blob[offsets[i] : offsets[i + 1]] == piece:
                return int(self._ranks[i])
            slot = (slot + 1) & mask

    def subset(self, data: bytes, budget: int) -> dict[bytes, int] | None:
        """Every vocabulary token that occurs in ``data``, with its rank.

        A BPE encoder built from this subset encodes ``data`` exactly as the full one:
        byte-pair merging of a piece only ever looks up substrings of that piece (each
        candidate merge and each final token is one), and every substring of a piece is a
        substring of ``data``; tokens absent from the subset are never consulted. All
        single bytes are tokens, so they are found too. Returns None when the scan would
        take more than ``budget`` steps (long or repetitive text): loading the full ranks
        is then cheaper.
        """
        crc32 = zlib.crc32
        bits, shift, max_len = self._bits, self._shift, self.max_len
        found: dict[bytes, int] = {}
        seen: set[bytes] = set()
        windows: set[bytes] = set()
        n = len(data)
        steps = 0
        for i in range(n):
            end = min(n, i + max_len)
            # The scan from i reads only data[i:end]; a window met before adds nothing
            # (this keeps runs of spaces or repeated lines cheap).
            window = data[i:end]
            if window in windows:
                continue
            windows.add(window)
            h = 0
            for j in range(i, end):
                h = crc32(data[j : j + 1], h)  # crc32 of data[i : j + 1], incrementally
                k = h >> shift
                if not (bits[k >> 3] >> (k & 7)) & 1:
                    break  # no token starts with data[i : j + 1]: none longer either
                steps += 1
                if steps > budget:
                    return None
                piece = data[i : j + 1]
                if piece in seen:
                    continue
                seen.add(piece)
                rank = self._rank(piece, h)
                if rank >= 0:
                    found[piece] = rank
        return found

    def close(self) -> None:
        # Views into the mmap must go before it can be closed.
        for view in (self._buckets, self._offsets, self._ranks, self._bits, self._blob):
            view.release()
        self._view.release()
        self._mm.close()
