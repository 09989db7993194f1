/**
 * Float64 reference of SAM's automatic-mask-generator post-processing (SPEC.md section 3), applied
 * plainly at full resolution as SAM's code does it: every mask's logits are upsampled to the padded
 * frame, cropped, resized to the original size, thresholded and counted, pixel by pixel. Slow on
 * purpose; written from SAM's and torch's definitions, not from the native code.
 */

/** torch.nn.functional.interpolate(bilinear, align_corners=False) of one plane. */
export function bilinearTorch(src: Float64Array, inH: number, inW: number, outH: number, outW: number): Float64Array {
  const out = new Float64Array(outH * outW);
  const source = (o: number, inSize: number, outSize: number) => {
    const s = Math.max(0, ((o + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return { i0, i1, l: s - i0 };
  };
  for (let y = 0; y < outH; y++) {
    const sy = source(y, inH, outH);
    for (let x = 0; x < outW; x++) {
      const sx = source(x, inW, outW);
      const a = src[sy.i0 * inW + sx.i0], b = src[sy.i0 * inW + sx.i1];
      const c = src[sy.i1 * inW + sx.i0], d = src[sy.i1 * inW + sx.i1];
      out[y * outW + x] = (1 - sy.l) * ((1 - sx.l) * a + sx.l * b) + sy.l * ((1 - sx.l) * c + sx.l * d);
    }
  }
  return out;
}

export interface RefConfig {
  predIouThreshold: number;
  stabilityThreshold: number;
  stabilityOffset: number;
  maskThreshold: number;
  boxNmsThreshold: number;
  maxProposals: number;
}

export interface RefProposal {
  source: number;
  mask: Uint8Array;
  box: [number, number, number, number];
  iou: number;
  stability: number;
  area: number;
}

/** Full-resolution logits of one low-resolution mask. */
export function upsampleMask(lowLogits: Float64Array, low: number, frame: number, height: number, width: number): Float64Array {
  const longest = Math.max(height, width);
  const scale = frame / longest;
  const ch = Math.max(1, Math.trunc(height * scale + 0.5)), cw = Math.max(1, Math.trunc(width * scale + 0.5));
  const framed = bilinearTorch(lowLogits, low, low, frame, frame);
  const cropped = new Float64Array(ch * cw);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) cropped[y * cw + x] = framed[y * frame + x];
  return bilinearTorch(cropped, ch, cw, height, width);
}

function boxIou(a: number[], b: number[]): number {
  const areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h, union = areaA + areaB - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * logits: all masks of all prompts in order, each low × low; iou: one per mask.
 */
export function amgReference(
  logits: Float32Array,
  iou: Float32Array,
  low: number,
  frame: number,
  height: number,
  width: number,
  cfg: RefConfig,
): RefProposal[] {
  const f = Math.fround;
  const candidates: RefProposal[] = [];
  const n = iou.length;
  for (let i = 0; i < n; i++) {
    if (!(iou[i] > f(cfg.predIouThreshold))) continue;
    const plane = Float64Array.from(logits.subarray(i * low * low, (i + 1) * low * low));
    const full = upsampleMask(plane, low, frame, height, width);
    let hi = 0, lo = 0;
    const t = cfg.maskThreshold, o = cfg.stabilityOffset;
    const mask = new Uint8Array(height * width);
    let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1, area = 0;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const v = full[y * width + x];
        if (v > t + o) hi++;
        if (v > t - o) lo++;
        if (v > t) {
          mask[y * width + x] = 1;
          area++;
          x0 = Math.min(x0, x);
          y0 = Math.min(y0, y);
          x1 = Math.max(x1, x);
          y1 = Math.max(y1, y);
        }
      }
    const stability = f(hi / lo); // 0/0 is NaN and fails the test below, as in torch
    if (!(stability >= f(cfg.stabilityThreshold))) continue;
    const box: [number, number, number, number] = area > 0 ? [x0, y0, x1, y1] : [0, 0, 0, 0];
    candidates.push({ source: i, mask, box, iou: iou[i], stability, area });
  }
  // NMS by predicted IoU (ties: earlier first), then the largest K by area (ties: NMS order).
  const order = candidates.map((_, i) => i).sort((a, b) => candidates[b].iou - candidates[a].iou || a - b);
  const removed = new Set<number>();
  const kept: RefProposal[] = [];
  for (let i = 0; i < order.length; i++) {
    if (removed.has(order[i])) continue;
    kept.push(candidates[order[i]]);
    for (let j = i + 1; j < order.length; j++)
      if (boxIou(candidates[order[i]].box, candidates[order[j]].box) > cfg.boxNmsThreshold) removed.add(order[j]);
  }
  const byArea = kept.map((p, i) => ({ p, i })).sort((a, b) => b.p.area - a.p.area || a.i - b.i);
  return byArea.slice(0, cfg.maxProposals).map((e) => e.p);
}
