"""Writes a LLaMA-7B-shaped GGUF with random Q4_0 weights for llama.cpp (`npm run bench:peers`).

    python write_gguf.py OUT.gguf [--tiny]

The weights are random Q4_0 blocks made directly (a float16 scale and 32 uniform 4-bit values per
block, so each weight is uniform in ±8·d with d = 1/(8·√fan_in), the spread of hrseg's random
init): quantizing 27 GB of float32 with the gguf package's numpy quantizer would take far longer
than the measurement, and speed does not depend on the values. Every 2-D weight is Q4_0, the
output projection included (llama.cpp's own `quantize --type q4_0` keeps that one at Q6_K: a
slightly smaller last matmul here); norms are float32. The vocabulary is a placeholder of 32,000
SentencePiece-style tokens: the benchmark feeds token ids, never text. Written tensor by tensor,
so it needs no more memory than one tensor.
"""

import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

QK = 32  # Q4_0 block: float16 d + 16 bytes of 32 nibbles
BLOCK_BYTES = 18


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--tiny", action="store_true")
    args = p.parse_args()
    n_vocab = 32000
    n_embd, n_ff, n_layer, n_head = (256, 704, 2, 4) if args.tiny else (4096, 11008, 32, 32)

    w = gguf.GGUFWriter(args.out, "llama")
    w.add_name("hrseg bench: random LLaMA-7B-shaped Q4_0")
    w.add_context_length(4096)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model("llama")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    types += [gguf.TokenType.NORMAL] * (n_vocab - len(types))
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    # (name, numpy shape [rows, cols], q4_0?) in llama.cpp's names; cols is the input width.
    plan = [("token_embd.weight", (n_vocab, n_embd), True)]
    for i in range(n_layer):
        b = f"blk.{i}."
        plan += [
            (b + "attn_norm.weight", (n_embd,), False),
            (b + "attn_q.weight", (n_embd, n_embd), True),
            (b + "attn_k.weight", (n_embd, n_embd), True),
            (b + "attn_v.weight", (n_embd, n_embd), True),
            (b + "attn_output.weight", (n_embd, n_embd), True),
            (b + "ffn_norm.weight", (n_embd,), False),
            (b + "ffn_gate.weight", (n_ff, n_embd), True),
            (b + "ffn_up.weight", (n_ff, n_embd), True),
            (b + "ffn_down.weight", (n_embd, n_ff), True),
        ]
    plan += [("output_norm.weight", (n_embd,), False), ("output.weight", (n_vocab, n_embd), True)]

    for name, shape, quant in plan:
        if quant:
            rows, cols = shape
            byte_shape = (rows, cols // QK * BLOCK_BYTES)
            w.add_tensor_info(name, byte_shape, np.dtype(np.uint8), rows * cols // QK * BLOCK_BYTES, raw_dtype=Q.Q4_0)
        else:
            w.add_tensor_info(name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    rng = np.random.default_rng(0)
    for name, shape, quant in plan:
        if quant:
            rows, cols = shape
            blocks = rng.integers(0, 256, size=(rows, cols // QK, BLOCK_BYTES), dtype=np.uint8)
            d = np.float16(1.0 / (8.0 * np.sqrt(cols)))
            blocks[:, :, :2] = np.frombuffer(d.tobytes(), dtype=np.uint8)
            w.write_tensor_data(blocks.reshape(rows, -1))
        else:
            w.write_tensor_data((1.0 + 0.1 * (rng.random(shape, dtype=np.float32) * 2 - 1)).astype(np.float32))
        sys.stderr.write(f"\r  {name}    ")
    w.close()
    sys.stderr.write("\n")
    print(json.dumps({"written": args.out, "bytes": os.path.getsize(args.out), "tensors": len(plan)}), flush=True)


if __name__ == "__main__":
    main()
