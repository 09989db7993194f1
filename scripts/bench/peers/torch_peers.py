"""The PyTorch peers of `npm run bench:peers` (issue #35), one stage per process, one JSON line out.

    python torch_peers.py sam   --image img.rgb --width 1024 --height 768 [--threads 2] [--tiny]
    python torch_peers.py dino  --image img.rgb --width 1024 --height 768 [--threads 2] [--tiny]
    python torch_peers.py llama [--threads 2] [--tiny]

Run by scripts/bench/peers.ts inside the venv that scripts/bench/peers/install.sh makes. Weights
are random (seeded, PyTorch's own initialisation of each module) in the real architectures'
shapes: speed does not depend on the values, except SAM's mask-quality filters, which random
weights fail, so they are off here as in hrseg's random package (box NMS still applies) and both
run the whole 32x32 grid of 1024 point prompts. --tiny builds small models for a smoke test.
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


def read_image(path: str, width: int, height: int) -> np.ndarray:
    return np.fromfile(path, dtype=np.uint8).reshape(height, width, 3)


def sam(args) -> dict:
    install_torchvision_shim()
    from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
    import segment_anything

    image = read_image(args.image, args.width, args.height)
    torch.manual_seed(0)
    model = sam_model_registry["vit_b" if args.tiny else "vit_h"]().eval()
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
    return {
        "stage": "llama",
        "prefillTokens": prefill,
        "prefillSeconds": prefill_s,
        "decodeSteps": decode,
        "decodeMedianSeconds": float(np.median(steps)),
        "layers": layers,
        "distinctLayers": distinct,
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
