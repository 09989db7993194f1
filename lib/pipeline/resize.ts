/**
 * The two resizes that reproducing LLM-Seg's numbers needs (SPEC.md section 11):
 *
 * - `areaDownscale`: OpenCV's `cv2.resize(..., interpolation=cv2.INTER_AREA)` for shrinking, which
 *   LLM-Seg applied before running SAM (LS prepare_datasets/prepare_ReasonSeg.py:32-40): each output
 *   pixel is the average of the input pixels its box covers, border pixels weighted by the fraction
 *   covered (OpenCV's computeResizeAreaTab, single-precision weights), rounded half to even.
 * - `nearestIndices` / `resizeNearest`: PyTorch's `F.interpolate(mode="nearest")`, which LLM-Seg's
 *   scorer uses to bring masks to another size: source index min(floor(dst · s), in − 1) with
 *   s = in / out in single precision, as PyTorch's CPU kernel computes it.
 */
import { HrsegError } from '../errors.js';
import type { RgbImage } from '../image.js';

/** LLM-Seg's SAM input size: the longest side scaled to `maxSide` when larger (Python's int() truncation), else unchanged. */
export function downscaledSize(width: number, height: number, maxSide: number): { width: number; height: number } | undefined {
  if (!Number.isInteger(maxSide) || maxSide < 1) throw new HrsegError('INVALID_ARGUMENT', `proposalMaxSide must be a positive integer, got ${maxSide}`);
  const longest = Math.max(width, height);
  if (longest <= maxSide) return undefined;
  const scale = maxSide / longest;
  return { width: Math.max(1, Math.trunc(width * scale)), height: Math.max(1, Math.trunc(height * scale)) };
}

interface AreaTap {
  dst: number;
  src: number;
  alpha: number;
}

// OpenCV's computeResizeAreaTab for one axis (scale = in / out ≥ 1).
function areaTaps(inSize: number, outSize: number): AreaTap[] {
  const scale = 1 / (outSize / inSize);
  const taps: AreaTap[] = [];
  for (let dx = 0; dx < outSize; dx++) {
    const fsx1 = dx * scale,
      fsx2 = fsx1 + scale;
    const cell = Math.min(scale, inSize - fsx1);
    let sx2 = Math.floor(fsx2);
    let sx1 = Math.ceil(fsx1);
    sx2 = Math.min(sx2, inSize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) taps.push({ dst: dx, src: sx1 - 1, alpha: Math.fround((sx1 - fsx1) / cell) });
    for (let sx = sx1; sx < sx2; sx++) taps.push({ dst: dx, src: sx, alpha: Math.fround(1 / cell) });
    if (fsx2 - sx2 > 1e-3) taps.push({ dst: dx, src: sx2, alpha: Math.fround(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell) });
  }
  return taps;
}

/** Round half to even, then clamp to 0..255 (OpenCV's saturate_cast<uchar> of a float). */
const toByte = (v: number) => {
  const r = Math.round(v);
  const even = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
  return even < 0 ? 0 : even > 255 ? 255 : even;
};

/** cv2.INTER_AREA shrink of 8-bit RGB to width × height (each no larger than the input's). */
export function areaDownscale(image: RgbImage, width: number, height: number): RgbImage {
  const { width: W, height: H, data } = image;
  if (width > W || height > H || width < 1 || height < 1)
    throw new HrsegError('INVALID_ARGUMENT', `areaDownscale: ${W}×${H} → ${width}×${height} is not a shrink`);
  const xs = areaTaps(W, width),
    ys = areaTaps(H, height);
  // Horizontal pass into float64 rows, then the vertical pass; separable as OpenCV's is.
  const rows = new Float64Array(H * width * 3);
  for (let y = 0; y < H; y++) {
    const src = y * W * 3,
      dst = y * width * 3;
    for (const t of xs) {
      const s = src + t.src * 3,
        d = dst + t.dst * 3;
      rows[d] += data[s] * t.alpha;
      rows[d + 1] += data[s + 1] * t.alpha;
      rows[d + 2] += data[s + 2] * t.alpha;
    }
  }
  const acc = new Float64Array(height * width * 3);
  for (const t of ys) {
    const s = t.src * width * 3,
      d = t.dst * width * 3;
    for (let i = 0; i < width * 3; i++) acc[d + i] += rows[s + i] * t.alpha;
  }
  const out = new Uint8Array(height * width * 3);
  for (let i = 0; i < out.length; i++) out[i] = toByte(acc[i]);
  return { width, height, data: out };
}

/** PyTorch's nearest source index for each of `outSize` outputs reading `inSize` inputs. */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  const scale = Math.fround(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (outSize === inSize) idx[o] = o;
    else if (outSize === 2 * inSize) idx[o] = o >> 1;
    else idx[o] = Math.min(Math.floor(Math.fround(o * scale)), inSize - 1);
  }
  return idx;
}

/**
 * F.interpolate(mode="nearest") of `count` planes of bytes [count, h, w] to [count, outH, outW].
 * Output rows that read the same input row are copied, so an upscale costs one gather per input row.
 */
export function resizeNearest(planes: Uint8Array, count: number, h: number, w: number, outH: number, outW: number): Uint8Array {
  const ys = nearestIndices(h, outH),
    xs = nearestIndices(w, outW);
  const out = new Uint8Array(count * outH * outW);
  for (let k = 0; k < count; k++) {
    const src = k * h * w,
      dst = k * outH * outW;
    for (let y = 0; y < outH; y++) {
      const row = dst + y * outW;
      if (y > 0 && ys[y] === ys[y - 1]) {
        out.copyWithin(row, row - outW, row);
        continue;
      }
      const s = src + ys[y] * w;
      for (let x = 0; x < outW; x++) out[row + x] = planes[s + xs[x]];
    }
  }
  return out;
}
