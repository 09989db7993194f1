#!/usr/bin/env python3
"""PyTorch eager baseline for scripts/device-check.sh: the same operations as
native/tests/bench_cuda.cu at the same shapes, on the same GPU, written the way the reference code
(LLM-Seg, SAM's automatic mask generator) writes them. Prints timings and writes JSON:
    python3 scripts/torch_baseline.py out.json
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as in our kernels
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")


def time_ms(fn, iters=20):
    fn()
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


C, d, ng, N, K, P, H, W, L = 1024, 256, 37, 2, 50, 256, 768, 1024, 2
nl = N * ng
g = torch.Generator(device=dev).manual_seed(0)
rnd = lambda *s, scale=1.0: (torch.rand(*s, device=dev, generator=g) * 2 - 1) * scale
fg, fl = rnd(ng * ng, C), rnd(nl * nl, C)
w_in, b_in = rnd(d, C, scale=0.03), rnd(d)
wq, wkv = rnd(d, d, scale=0.06), rnd(2 * d, d, scale=0.06)
masks = torch.zeros(K, H, W, device=dev)
for k in range(K):
    y0, x0 = (k * 13) % 400, (k * 29) % 600
    masks[k, y0:y0 + 300, x0:x0 + 400] = 1
hre_w = [rnd(d, d, scale=0.06) for _ in range(3 * L)]
state = {}


def input_proj():
    state["xg"] = F.linear(fg, w_in, b_in)
    state["xl"] = F.linear(fl, w_in, b_in)


fg16, fl16, w16, b16 = fg.half(), fl.half(), w_in.half(), b_in.half()


def input_proj_fp16():
    F.linear(fg16, w16, b16)
    F.linear(fl16, w16, b16)


def region():
    xg, xl = state["xg"], state["xl"]
    q = F.linear(xg, wq)
    kv = F.linear(xl, wkv).view(ng, N, ng, N, 2 * d).permute(0, 2, 1, 3, 4).reshape(ng * ng, N * N, 2 * d)
    k, v = kv[..., :d], kv[..., d:]
    p = torch.softmax(torch.einsum("cd,cwd->cw", q, k) / d ** 0.5, dim=-1)
    fr = torch.einsum("cw,cwd->cd", p, v)
    state["fh"] = 0.8 * xg + 0.2 * fr


def pooling():
    # LLM-Seg's definition: features upsampled to P x P, masks resized in the padded frame with
    # the antialiased bilinear of its dataset code (SPEC 4.4's default maskResize).
    S = max(H, W)
    padded = F.pad(masks, (0, S - W, 0, S - H))
    w = F.interpolate(padded[:, None], size=(P, P), mode="bilinear", align_corners=False, antialias=True)[:, 0]
    fmap = state["fh"].t().reshape(1, d, ng, ng)
    up = F.interpolate(fmap, size=(P, P), mode="bilinear", align_corners=False)[0]
    state["m"] = torch.einsum("kpq,dpq->kd", w, up) / (w.sum(dim=(1, 2))[:, None] + 1e-8)


def hre():
    m, fh = state["m"], state["fh"]
    for l in range(L):
        a = torch.softmax(F.linear(m, hre_w[3 * l]) @ F.linear(fh, hre_w[3 * l + 1]).t() / d ** 0.5, dim=-1) @ F.linear(fh, hre_w[3 * l + 2])
        m = F.layer_norm(m + a, (d,))
    state["m_hre"] = m


def image_step():
    input_proj()
    region()
    pooling()
    hre()


# SAM's automatic mask generator post-processing (segment_anything/automatic_mask_generator.py,
# utils/amg.py), batch by batch, at 1024 x 1024.
low, prompts, per, batch, side = 256, 1024, 3, 64, 1024
gy, gx = torch.meshgrid(torch.arange(low, device=dev) + 0.5, torch.arange(low, device=dev) + 0.5, indexing="ij")
cx, cy = torch.rand(prompts * per, device=dev, generator=g) * low, torch.rand(prompts * per, device=dev, generator=g) * low
rx, ry = 4 + torch.rand(prompts * per, device=dev, generator=g) * 80, 4 + torch.rand(prompts * per, device=dev, generator=g) * 60
slope = 4 + torch.rand(prompts * per, device=dev, generator=g) * 16
r = torch.sqrt(((gx[None] - cx[:, None, None]) / rx[:, None, None]) ** 2 + ((gy[None] - cy[:, None, None]) / ry[:, None, None]) ** 2)
logits = (slope[:, None, None] * (1 - r) * torch.minimum(rx, ry)[:, None, None] * 0.25).reshape(prompts, per, low, low)
ious = (0.6 + 0.4 * torch.rand(prompts, per, device=dev, generator=g))
try:
    from torchvision.ops import batched_nms
except Exception:  # torchvision missing: the same greedy NMS in torch
    batched_nms = None


def nms(boxes, scores, thr):
    if batched_nms is not None:
        return batched_nms(boxes.float(), scores, torch.zeros_like(scores), thr)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = boxes[order[1:]]
        b = boxes[i]
        w = (torch.minimum(rest[:, 2], b[2]) - torch.maximum(rest[:, 0], b[0])).clamp(min=0)
        h = (torch.minimum(rest[:, 3], b[3]) - torch.maximum(rest[:, 1], b[1])).clamp(min=0)
        inter = w * h
        area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
        order = order[1:][inter / (area(rest) + area(b) - inter) <= thr]
    return torch.stack(keep)


def mask_to_box(m):
    # segment_anything.utils.amg.batched_mask_to_box
    h, w = m.shape[-2:]
    in_height, _ = torch.max(m, dim=-1)
    in_height_coords = in_height * torch.arange(h, device=m.device)[None, :]
    bottom, _ = torch.max(in_height_coords, dim=-1)
    in_height_coords = in_height_coords + h * (~in_height)
    top, _ = torch.min(in_height_coords, dim=-1)
    in_width, _ = torch.max(m, dim=-2)
    in_width_coords = in_width * torch.arange(w, device=m.device)[None, :]
    right, _ = torch.max(in_width_coords, dim=-1)
    in_width_coords = in_width_coords + w * (~in_width)
    left, _ = torch.min(in_width_coords, dim=-1)
    return torch.stack([left, top, right, bottom], dim=-1)


def amg():
    kept_masks, kept_boxes, kept_iou = [], [], []
    for b in range(0, prompts, batch):
        low_res = logits[b:b + batch].flatten(0, 1)[:, None]
        up = F.interpolate(low_res, (1024, 1024), mode="bilinear", align_corners=False)[..., :side, :side]
        full = F.interpolate(up, (side, side), mode="bilinear", align_corners=False)[:, 0]
        iou = ious[b:b + batch].flatten()
        keep = iou > 0.88
        full, iou = full[keep], iou[keep]
        inter = (full > 1.0).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
        union = (full > -1.0).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
        keep = (inter / union) >= 0.95
        m = full[keep] > 0.0
        kept_masks.append(m)
        kept_boxes.append(mask_to_box(m))
        kept_iou.append(iou[keep])
    m, boxes, iou = torch.cat(kept_masks), torch.cat(kept_boxes), torch.cat(kept_iou)
    keep = nms(boxes, iou, 0.7)
    m = m[keep]
    order = m.sum(dim=(1, 2)).argsort(descending=True)[:50]
    return m[order]


with torch.no_grad():
    image_step()
    ops = [
        ("input projection fp32 (6845x1024 -> 256)", input_proj),
        ("input projection fp16 tensor cores", input_proj_fp16),
        ("region attention (q, k, v GEMMs + fused window softmax + mix)", region),
        ("mask pooling (K 50, 1024x768, pulled back)", pooling),
        ("HRE (2 cross-attention layers over 1369 tokens)", hre),
        ("head image step, fp32 (all of the above)", image_step),
        ("AMG post-processing (1024 prompts x 3, 1024x1024)", amg),
    ]
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "ops": []}
    for name, fn in ops:
        ms = time_ms(fn, 5 if name.startswith("AMG") else 20)
        out["ops"].append({"op": name, "ms": ms})
        print(f"torch eager  {name:66s} {ms:10.4f} ms")
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)
