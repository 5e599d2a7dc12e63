"""The o200k_base and cl100k_base ranks shipped inside gptcli, so OpenAI's models count offline.

Used when neither gptcli's rank cache nor tiktoken's cache has the encoding file: then a
download is never needed (an air-gapped machine, a fresh clone's tests). The files in
``data/`` hold the tokens in rank order (ranks are 0..n-1 in both encodings): one length
byte per token, then all the tokens' bytes, zlib-compressed behind a small header:

    magic b"GPTRANKS", format (1 byte), token count (u32), CRC-32 of the payload (u32)

1.5 MB for both, against 5.3 MB for tiktoken's base64 text files; decoding one takes a
few tens of ms, once per machine (the result then goes to gptcli's marshal cache).

Each file is verified against the SHA-256 that tiktoken publishes for its source file
(``PUBLISHED``), by writing the ranks back in tiktoken's text format and hashing that:
when the files are built (``python -m gptcli.tokens.bundled DIR``, reading tiktoken's
cache), when the wheel is built (``hatch_build.py``) and in the tests. At run time the
CRC guards against a damaged install. Standard library only: the build hook loads this
file without gptcli's dependencies.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import struct
import sys
import zlib
from pathlib import Path

_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# tiktoken_ext.openai_public's expected_hash for each file (tiktoken 0.7 to 0.12 agree).
PUBLISHED = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_MAGIC = b"GPTRANKS"
_FORMAT = 1
_HEADER = struct.Struct("<8sBII")
DATA_DIR = Path(__file__).with_name("data")


def path_for(name: str) -> Path:
    return DATA_DIR / f"{name}.ranks"


def for_sha256(sha256: str | None) -> str | None:
    """The bundled encoding whose source file has this SHA-256 (o200k_harmony shares o200k's)."""
    for name, published in PUBLISHED.items():
        if sha256 == published:
            return name
    return None


def encode(ranks: dict[bytes, int]) -> bytes:
    """The bundled format of ``ranks`` (which must be 0..n-1, tokens of at most 255 bytes)."""
    tokens = sorted(ranks, key=ranks.__getitem__)
    if [ranks[t] for t in tokens] != list(range(len(tokens))) or max(map(len, tokens)) > 255:
        raise ValueError("ranks are not 0..n-1 with tokens of at most 255 bytes")
    payload = bytes(map(len, tokens)) + b"".join(tokens)
    return _HEADER.pack(_MAGIC, _FORMAT, len(tokens), zlib.crc32(payload)) + zlib.compress(payload, 9)


def decode(data: bytes) -> dict[bytes, int]:
    """The ranks in ``data``; ValueError when it is not an intact bundled file."""
    if len(data) < _HEADER.size:
        raise ValueError("truncated")
    magic, fmt, count, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC or fmt != _FORMAT:
        raise ValueError("not a gptcli rank file")
    try:
        payload = zlib.decompress(data[_HEADER.size :])
    except zlib.error as e:
        raise ValueError(f"damaged: {e}") from None
    if zlib.crc32(payload) != crc:
        raise ValueError("damaged: CRC mismatch")
    ends = list(itertools.accumulate(payload[:count], initial=count))
    if len(payload) < count or ends[-1] != len(payload):
        raise ValueError("damaged: wrong token count")
    return dict(zip(map(payload.__getitem__, map(slice, ends, ends[1:])), range(count), strict=True))


def load(name: str) -> dict[bytes, int] | None:
    """The shipped ranks of ``name``, or None when not shipped (or damaged)."""
    if name not in PUBLISHED:
        return None
    try:
        return decode(path_for(name).read_bytes())
    except (OSError, ValueError):
        return None


def tiktoken_text(ranks: dict[bytes, int]) -> bytes:
    """``ranks`` in tiktoken's file format: base64 token, space, rank, newline, by rank."""
    b64 = base64.b64encode
    return b"".join(b64(t) + b" %d\n" % r for t, r in sorted(ranks.items(), key=lambda item: item[1]))


def verify(name: str, data: bytes | None = None) -> None:
    """ValueError unless the bundled file of ``name`` is exactly tiktoken's published file."""
    ranks = decode(path_for(name).read_bytes() if data is None else data)
    digest = hashlib.sha256(tiktoken_text(ranks)).hexdigest()
    if digest != PUBLISHED[name]:
        raise ValueError(f"{name}: SHA-256 {digest} is not tiktoken's {PUBLISHED[name]}")


def build(tiktoken_cache: Path, out_dir: Path = DATA_DIR) -> list[Path]:
    """Write ``out_dir/NAME.ranks`` from tiktoken's cached source files, verified."""
    written = []
    for name, sha256 in PUBLISHED.items():
        source = tiktoken_cache / hashlib.sha1(_URL.format(name).encode()).hexdigest()
        raw = source.read_bytes()
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise ValueError(f"{source}: not tiktoken's published {name}")
        ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in raw.splitlines())}
        data = encode(ranks)
        verify(name, data)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{name}.ranks"
        target.write_bytes(data)
        written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m gptcli.tokens.bundled TIKTOKEN_CACHE_DIR")
    for done in build(Path(sys.argv[1])):
        print(done, done.stat().st_size)
