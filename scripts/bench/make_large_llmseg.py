"""A large random checkpoint in LLM-Seg's DeepSpeed layout, for measuring how `hrseg convert`
streams a file bigger than half the machine's memory (README: peak RSS and MB/s).

  /usr/bin/python3 scripts/bench/make_large_llmseg.py /tmp/large [layers]

LLaMA-7B shapes (hidden 4096, MLP 11008, vocabulary 32004, 32 layers by default), bf16, LoRA r 8
unmerged on q_proj and v_proj (peft 0.4 names), a linear projector, and a small CLIP tower (the
real CLIP-L is converted from its own file). Random values: not a model. Tensors are made one at
a time and torch.save'd; expect ~13.5 GB on disk for 32 layers. Also writes a 32000-token
WordPiece tokenizer.json beside it (the converter appends LISA's four tokens).
"""
import collections
import json
import os
import sys

import torch


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/large"
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    r = lambda *s: (torch.randn(*s, generator=g) * 0.02).to(torch.bfloat16)  # noqa: E731
    H, I, V = 4096, 11008, 32004
    p = "base_model.model."
    sd = collections.OrderedDict()
    sd[p + "model.embed_tokens.weight"] = r(V, H)
    for i in range(layers):
        L = f"{p}model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            sd[f"{L}self_attn.{proj}.weight"] = r(H, H)
            if proj in ("q_proj", "v_proj"):
                sd[f"{L}self_attn.{proj}.lora_A.default.weight"] = r(8, H)
                sd[f"{L}self_attn.{proj}.lora_B.default.weight"] = r(H, 8)
        sd[f"{L}mlp.gate_proj.weight"], sd[f"{L}mlp.up_proj.weight"], sd[f"{L}mlp.down_proj.weight"] = r(I, H), r(I, H), r(H, I)
        sd[f"{L}input_layernorm.weight"] = torch.ones(H, dtype=torch.bfloat16)
        sd[f"{L}post_attention_layernorm.weight"] = torch.ones(H, dtype=torch.bfloat16)
    sd[p + "model.norm.weight"] = torch.ones(H, dtype=torch.bfloat16)
    sd[p + "lm_head.weight"] = r(V, H)
    sd[p + "model.mm_projector.weight"], sd[p + "model.mm_projector.bias"] = r(H, 64), r(H)
    vt = p + "model.vision_tower.vision_tower.vision_model."
    sd[vt + "embeddings.class_embedding"] = r(64)
    sd[vt + "embeddings.patch_embedding.weight"] = r(64, 3, 14, 14)
    sd[vt + "embeddings.position_embedding.weight"] = r(257, 64)
    sd[vt + "pre_layrnorm.weight"], sd[vt + "pre_layrnorm.bias"] = r(64), r(64)
    for i in range(2):
        L = f"{vt}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[f"{L}self_attn.{proj}.weight"], sd[f"{L}self_attn.{proj}.bias"] = r(64, 64), r(64)
        for n in ("layer_norm1", "layer_norm2"):
            sd[f"{L}{n}.weight"], sd[f"{L}{n}.bias"] = r(64), r(64)
        sd[f"{L}mlp.fc1.weight"], sd[f"{L}mlp.fc1.bias"] = r(256, 64), r(256)
        sd[f"{L}mlp.fc2.weight"], sd[f"{L}mlp.fc2.bias"] = r(64, 256), r(64)
    torch.save({"module": sd, "ds_version": "0.9.5"}, os.path.join(out, "mp_rank_00_model_states.pt"))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    letters = "abcdefghijklmnopqrstuvwxyz"
    for c in letters:
        vocab[c] = len(vocab)
        vocab["##" + c] = len(vocab)
    n = 0
    while len(vocab) < 32000:
        vocab[f"w{n}"] = len(vocab)
        n += 1
    tok = {"version": "1.0", "truncation": None, "padding": None, "post_processor": None,
           "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False} for t, i in list(vocab.items())[:3]],
           "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "BertPreTokenizer"}, "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
           "model": {"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}}
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    print("wrote", out, os.path.getsize(os.path.join(out, "mp_rank_00_model_states.pt")) / 2**30, "GiB")


if __name__ == "__main__":
    main()
