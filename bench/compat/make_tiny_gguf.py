"""Write a tiny llama-architecture GGUF model with random weights, for llama.cpp's server.

The point is the server's protocol behaviour (streaming, errors, ``n``, context limits),
not good answers: two layers, 64-wide, a SentencePiece-style vocabulary of the 256 byte
tokens, letters, punctuation and ~150 common English words, and a plain chat template.
The output layer gives real words far larger logits than the byte and control tokens,
so replies are (random) English words and never raw bytes; ``</s>`` is left unlikely,
so a reply normally runs until ``max_tokens`` or the context is full.

Run it with a Python that has the ``gguf`` package (numpy comes with it)::

    python bench/compat/make_tiny_gguf.py OUT.gguf [--ctx 2048] [--seed 15]

The same seed writes the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_COMMON_WORDS = """the of and to in is you that it he was for on are as with his they at be this have from or one
had by word but not what all were we when your can said there use an each which she do how their if will up
other about out many then them these so some her would make like him into time has look two more write go see
number no way could people my than first water been call who oil its now find long down day did get come made
may part over new sound take only little work know place year live me back give most very after thing our just
name good sentence man think say great where help through much before line right too mean old any same tell boy
follow came want show also around form three small set put end does another well large must big even such
because turn here why ask went men read need land different home us move try kind hand picture again change off
play spell air away animal house point page letter mother answer found study still learn should world hello"""
WORDS = _COMMON_WORDS.split()

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and types of a small SentencePiece ("llama") vocabulary."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces = ["\u2581", *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:;'-\"()"]
    pieces += ["\u2581" + w for w in WORDS] + ["\u2581" + w.capitalize() for w in WORDS[:40]]
    seen = set(tokens)
    for p in pieces:
        if p not in seen:
            seen.add(p)
            tokens.append(p)
            types.append(TokenType.NORMAL)
    # SentencePiece merges the highest-scoring piece first: longer pieces win.
    scores = [0.0] * 3 + [0.0] * 256 + [float(len(t)) - 100.0 for t in tokens[259:]]
    return tokens, scores, [int(t) for t in types]


def write(out: Path, *, ctx: int, seed: int) -> None:
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    n_vocab, n_embd, n_ff, n_layer, n_head = len(tokens), 64, 128, 2, 4

    def rand(*shape: int, std: float = 0.05) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name("gptcli-compat-tiny")
    w.add_context_length(ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    w.add_tensor("token_embd.weight", rand(n_vocab, n_embd, std=1.0))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    out_w = rand(n_vocab, n_embd, std=0.6)
    out_w[:259] = 0.0  # unk, bos, eos and the byte tokens: logit 0 against words' ~N(0, 5^2)
    w.add_tensor("output.weight", out_w)
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + name + ".weight", rand(n_embd, n_embd))
        w.add_tensor(p + "ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", rand(n_ff, n_embd))
        w.add_tensor(p + "ffn_up.weight", rand(n_ff, n_embd))
        w.add_tensor(p + "ffn_down.weight", rand(n_embd, n_ff))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--ctx", type=int, default=2048, help="the model's training context (n_ctx_train)")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write(args.out, ctx=args.ctx, seed=args.seed)
    print(f"{args.out}: {args.out.stat().st_size:,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
