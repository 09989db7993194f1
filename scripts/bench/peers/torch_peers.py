"""The PyTorch peers of `npm run bench:peers` (issue #35), one stage per process, one JSON line out.

    python torch_peers.py sam   --image img.rgb --width 1024 --height 768 [--threads 2] [--tiny]
    python torch_peers.py dino  --image img.rgb --width 1024 --height 768 [--threads 2] [--tiny]
    python torch_peers.py llama [--threads 2] [--tiny]

Run by scripts/bench/peers.ts inside the venv that scripts/bench/peers/install.sh makes. Weights
are random in the real architectures' shapes. SAM's are hrseg's own (lib/convert/random.ts's
values, computed here bit for bit: the masks, and with them the post-processing's work, depend on
them); DINOv2's and LLaMA's are PyTorch's seeded initialisation, a different draw of the same
shapes (their speed does not depend on the values). SAM's mask-quality filters, which random
weights fail, are off here as in hrseg's random package (box NMS still applies), so both run the
whole 32x32 grid of 1024 point prompts. --tiny builds small models for a smoke test.
"""

import argparse
import json
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F


def install_torchvision_shim() -> None:
    """segment-anything imports three functions from torchvision; its wheels here are CUDA builds
    whose C++ ops do not load beside torch's CPU build, so these are the same operations in plain
    torch. The AMG's NMS (over at most a few thousand boxes) and the image resize are a negligible
    share of its time."""

    def box_area(boxes: torch.Tensor) -> torch.Tensor:
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        # Greedy NMS as torchvision's: highest score first, drop every later box over the IoU.
        order = torch.argsort(scores, descending=True)
        b = boxes[order]
        area = box_area(b)
        lt = torch.maximum(b[:, None, :2], b[None, :, :2])
        rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=2)
        over = (inter / (area[:, None] + area[None, :] - inter) > iou_threshold).numpy()
        removed = np.zeros(len(order), dtype=bool)
        keep = []
        for i in range(len(order)):
            if removed[i]:
                continue
            keep.append(i)
            removed |= over[i]
        return order[torch.tensor(keep, dtype=torch.long)]

    def batched_nms(boxes, scores, idxs, iou_threshold):
        # torchvision's trick: offset each category's boxes so that categories never overlap.
        if boxes.numel() == 0:
            return torch.empty((0,), dtype=torch.int64)
        offsets = idxs.to(boxes) * (boxes.max() + 1)
        return nms(boxes + offsets[:, None], scores, iou_threshold)

    def to_pil_image(image):
        return image  # numpy HxWx3 uint8 passes through to resize below

    def resize(image, size):
        # PIL's bilinear resize (antialiased when shrinking), as torchvision's resize of a PIL image.
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        out = F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        return out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()

    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms, boxes.box_area, boxes.nms = batched_nms, box_area, nms
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize, functional.to_pil_image = resize, to_pil_image
    tv.ops, ops.boxes, tv.transforms, transforms.functional = ops, boxes, transforms, functional
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": boxes,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    )


def hrseg_random(name: str, shape, kind: str) -> np.ndarray:
    """lib/convert/random.ts's GeneratedSource in numpy: the same float32 values for the same name.

    There, a tensor is an LCG (s = s·1664525 + 1013904223 mod 2³²) seeded with FNV-1a of its
    name, u = s/2³²·2 − 1, and the value scale·u (1 + 0.1·u for norm scales); scale is 1/√fan_in
    for weights, 0.02 for biases and small tensors. Here the LCG's i-th state is computed in
    closed form, s_i = A_i·s_0 + C_i, a block of indices at a time."""
    numel = int(np.prod(shape))
    fan_in = numel / shape[0] if len(shape) > 1 else 1
    scale = 1 / np.sqrt(fan_in) if kind == "weight" else 0.1 if kind == "norm" else 0.02
    s = 2166136261
    for ch in name:
        s = ((s ^ ord(ch)) * 16777619) & 0xFFFFFFFF
    mask = np.uint64(0xFFFFFFFF)
    block = 1 << 20
    a = np.empty(block, np.uint64)  # a[k] = 1664525^(k+1), c[k]: s_(k+1) = a[k]·s_0 + c[k]
    c = np.empty(block, np.uint64)
    a[0], c[0], n = 1664525, 1013904223, 1
    while n < block:
        a[n : 2 * n] = (a[:n] * a[n - 1]) & mask
        c[n : 2 * n] = (a[:n] * c[n - 1] + c[:n]) & mask
        n *= 2
    out = np.empty(numel, np.float32)
    for start in range(0, numel, block):
        m = min(block, numel - start)
        st = (a[:m] * np.uint64(s) + c[:m]) & mask
        u = st.astype(np.float64) / 4294967296.0 * 2 - 1
        out[start : start + m] = 1 + scale * u if kind == "norm" else scale * u
        s = int(st[m - 1])
    return out.reshape(shape)


def hrseg_random_sam(model) -> None:
    """Loads SAM with the random weights hrseg's `random:sam-*` checkpoint has (the official key
    names; each tensor's kind as lib/convert/random.ts's sam() gives it), so both segment the
    image with the same network: the random masks, and so the post-processing's work, match."""
    from segment_anything.modeling.common import LayerNorm2d

    norms = {n for n, m in model.named_modules() if isinstance(m, (torch.nn.LayerNorm, LayerNorm2d))}
    embeddings = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)}
    state = {}
    for name, t in model.state_dict().items():
        module, _, leaf = name.rpartition(".")
        if name.endswith("positional_encoding_gaussian_matrix"):
            kind = "norm"
        elif leaf == "bias":
            kind = "bias"
        elif module in norms:
            kind = "norm"
        elif module in embeddings or leaf in ("pos_embed", "rel_pos_h", "rel_pos_w"):
            kind = "small"
        else:
            kind = "weight"
        state[name] = torch.from_numpy(hrseg_random(name, tuple(t.shape), kind))
    model.load_state_dict(state)


def read_image(path: str, width: int, height: int) -> np.ndarray:
    return np.fromfile(path, dtype=np.uint8).reshape(height, width, 3)


def sam(args) -> dict:
    install_torchvision_shim()
    from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
    import segment_anything

    image = read_image(args.image, args.width, args.height)
    torch.manual_seed(0)
    model = sam_model_registry["vit_b" if args.tiny else "vit_h"]().eval()
    t = time.perf_counter()
    hrseg_random_sam(model)
    weights_s = time.perf_counter() - t
    amg = SamAutomaticMaskGenerator(
        model,
        points_per_side=4 if args.tiny else 32,  # 32: 1024 prompts, hrseg's grid
        points_per_batch=64,  # the official default, as hrseg's batches
        pred_iou_thresh=0.0,  # 0 turns the filter off (random weights fail it)
        stability_score_thresh=0.0,  # likewise
        box_nms_thresh=0.7,  # the default, as hrseg
    )
    # The encoder's share: set_image is the preprocessing and the image encoder.
    encoder = {}
    set_image = amg.predictor.set_image

    def timed_set_image(*a, **k):
        t = time.perf_counter()
        set_image(*a, **k)
        encoder["s"] = time.perf_counter() - t

    amg.predictor.set_image = timed_set_image
    with torch.inference_mode():
        t0 = time.perf_counter()
        masks = amg.generate(image)
        total = time.perf_counter() - t0
    return {
        "stage": "sam",
        "seconds": total,
        "encoderSeconds": encoder.get("s"),
        "masks": len(masks),
        "weights": f"hrseg's random:sam-vit-{'b' if args.tiny else 'h'} values ({weights_s:.0f} s to generate)",
        "version": f"segment-anything {segment_anything_version()} (SamAutomaticMaskGenerator, ViT-{'B' if args.tiny else 'H'}), torch {torch.__version__}",
    }


def segment_anything_version() -> str:
    from importlib.metadata import version

    return version("segment-anything")


def dino(args) -> dict:
    import transformers
    from transformers import Dinov2Config, Dinov2Model

    size = 224 if args.tiny else 896
    config = Dinov2Config(
        hidden_size=1024,
        num_hidden_layers=2 if args.tiny else 24,
        num_attention_heads=16,
        intermediate_size=4096,
        patch_size=14,
        image_size=518,  # the checkpoints' position grid (37²), interpolated to 64² at 896
        layerscale_value=1.0,
    )
    torch.manual_seed(0)
    model = Dinov2Model(config).eval()
    image = read_image(args.image, args.width, args.height)
    with torch.inference_mode():
        t0 = time.perf_counter()
        # Preprocessing as hrseg's: resize to size², ImageNet mean and std.
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
        std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
        out = model(pixel_values=(x - mean) / std).last_hidden_state
        total = time.perf_counter() - t0
    return {
        "stage": "dino",
        "seconds": total,
        "tokens": out.shape[1],
        "attention": model.config._attn_implementation,
        "version": f"transformers {transformers.__version__} Dinov2Model (ViT-L/14 at {size}²), torch {torch.__version__}",
    }


def llama(args) -> dict:
    """LLaMA-7B in bf16: prefill 300 tokens, then 16 greedy decode steps with the KV cache.

    13.5 GB of bf16 weights do not fit beside the rest in this 24 GB machine, so the model has 32
    layers of which only `distinct` own their weights; the others share them in rotation. Every
    layer still runs its full computation, and `distinct` layers' weights (0.4 GB each) are far
    beyond the caches, so decode still streams weights from memory at every layer as a 7B does."""
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    tiny = args.tiny
    layers = 4 if tiny else 32
    distinct = 2 if tiny else args.distinct_layers
    prefill, decode = (16, 4) if tiny else (300, 16)
    config = LlamaConfig(
        vocab_size=32000,
        hidden_size=256 if tiny else 4096,
        intermediate_size=688 if tiny else 11008,
        num_hidden_layers=distinct,
        num_attention_heads=4 if tiny else 32,
        num_key_value_heads=4 if tiny else 32,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
    )
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    model = LlamaForCausalLM(config).eval()
    torch.set_default_dtype(torch.float32)
    with torch.device("meta"):
        extra = [LlamaDecoderLayer(config, layer_idx=i) for i in range(distinct, layers)]
    for i, layer in enumerate(extra, distinct):
        layer.load_state_dict(model.model.layers[i % distinct].state_dict(), assign=True)
        model.model.layers.append(layer)
    model.config.num_hidden_layers = layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[0]] * layers
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 32000, (1, prefill), generator=gen)
    with torch.inference_mode():
        model(torch.randint(3, 32000, (1, 8), generator=gen), use_cache=True)  # warm-up (as decoder.ts)
        t0 = time.perf_counter()
        out = model(ids, use_cache=True)
        prefill_s = time.perf_counter() - t0
        past = out.past_key_values
        token = out.logits[:, -1:].argmax(-1)
        steps = []
        for _ in range(decode):
            t = time.perf_counter()
            out = model(token, past_key_values=past, use_cache=True)
            past = out.past_key_values
            token = out.logits[:, -1:].argmax(-1)
            steps.append(time.perf_counter() - t)
    cached = past.get_seq_length() if hasattr(past, "get_seq_length") else None
    weights = {p.data_ptr(): p for p in model.parameters()}  # shared ones once
    return {
        "stage": "llama",
        "prefillTokens": prefill,
        "prefillSeconds": prefill_s,
        "decodeSteps": decode,
        "decodeMedianSeconds": float(np.median(steps)),
        "layers": layers,
        "distinctLayers": distinct,
        "weightGiB": sum(p.numel() * p.element_size() for p in weights.values()) / 2**30,
        "dtype": str(next(model.parameters()).dtype),
        "cachedPositions": cached,
        "attention": model.config._attn_implementation,
        "version": f"transformers {transformers.__version__} LlamaForCausalLM (bf16), torch {torch.__version__}",
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("stage", choices=["sam", "dino", "llama"])
    p.add_argument("--image")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--height", type=int, default=768)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--distinct-layers", type=int, default=8)
    p.add_argument("--tiny", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {"sam": sam, "dino": dino, "llama": llama}[args.stage](args)
    result["threads"] = torch.get_num_threads()
    result["maxRssGiB"] = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
