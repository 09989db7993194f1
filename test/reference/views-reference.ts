/**
 * Float64 reference of the image views (SPEC.md section 2), written from Pillow's resampling
 * definition for the tests: every output pixel is computed on its own as a 2-D weighted sum over
 * the source pixels its filter window covers. Slow and plain on purpose.
 */
export type RefFilter = 'bilinear' | 'bicubic';

function kernel(filter: RefFilter, x: number): number {
  const a = Math.abs(x);
  if (filter === 'bilinear') return Math.max(0, 1 - a);
  const A = -0.5;
  if (a < 1) return (A + 2) * a ** 3 - (A + 3) * a ** 2 + 1;
  if (a < 2) return A * a ** 3 - 5 * A * a ** 2 + 8 * A * a - 4 * A;
  return 0;
}

/** Pillow's window for output index o: source indices and normalised weights. */
export function pillowWeights(inSize: number, outSize: number, filter: RefFilter, o: number): { index: number[]; weight: number[] } {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = (filter === 'bilinear' ? 1 : 2) * stretch;
  const center = (o + 0.5) * scale;
  const lo = Math.max(0, Math.trunc(center - support + 0.5));
  const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
  const index: number[] = [], weight: number[] = [];
  for (let j = lo; j < hi; j++) {
    index.push(j);
    weight.push(kernel(filter, (j - center + 0.5) / stretch));
  }
  const total = weight.reduce((s, w) => s + w, 0);
  return { index, weight: weight.map((w) => (total === 0 ? w : w / total)) };
}

/** Resized image, [3][outH][outW] in 0–255 floats. */
export function resizeRef(rgb: Uint8Array, h: number, w: number, outH: number, outW: number, filter: RefFilter): Float64Array[] {
  const planes = [0, 1, 2].map(() => new Float64Array(outH * outW));
  const rows = Array.from({ length: outH }, (_, y) => pillowWeights(h, outH, filter, y));
  const cols = Array.from({ length: outW }, (_, x) => pillowWeights(w, outW, filter, x));
  for (let y = 0; y < outH; y++)
    for (let x = 0; x < outW; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        rows[y].index.forEach((sy, i) =>
          cols[x].index.forEach((sx, j) => (s += rows[y].weight[i] * cols[x].weight[j] * rgb[(sy * w + sx) * 3 + c])),
        );
        planes[c][y * outW + x] = s;
      }
  return planes;
}

export interface RefNorm {
  mean: readonly number[];
  std: readonly number[];
}

/** Planar [3, size, size] window of a resized image starting at (top, left), normalised, 0 outside it. */
function window(planes: Float64Array[], rh: number, rw: number, top: number, left: number, size: number, norm: RefNorm): Float64Array {
  const out = new Float64Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const sy = top + y, sx = left + x;
        out[(c * size + y) * size + x] = sy < rh && sx < rw ? (planes[c][sy * rw + sx] - norm.mean[c]) / norm.std[c] : 0;
      }
  return out;
}

/** SAM's get_preprocess_shape rounding. */
export function scaledSide(side: number, longest: number, target: number): number {
  return Math.trunc(side * (target / longest) + 0.5);
}

export function squareViewRef(rgb: Uint8Array, h: number, w: number, size: number, norm: RefNorm) {
  const L = Math.max(h, w);
  const rh = Math.max(1, scaledSide(h, L, size)), rw = Math.max(1, scaledSide(w, L, size));
  return { data: window(resizeRef(rgb, h, w, rh, rw, 'bilinear'), rh, rw, 0, 0, size, norm), rh, rw };
}

export function tiledViewRef(rgb: Uint8Array, h: number, w: number, size: number, n: number, norm: RefNorm): Float64Array[] {
  const L = Math.max(h, w), big = size * n;
  const rh = Math.max(1, scaledSide(h, L, big)), rw = Math.max(1, scaledSide(w, L, big));
  const planes = resizeRef(rgb, h, w, rh, rw, 'bilinear');
  const crops: Float64Array[] = [];
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) crops.push(window(planes, rh, rw, r * size, c * size, size, norm));
  return crops;
}

export function centerCropRef(rgb: Uint8Array, h: number, w: number, size: number, norm: RefNorm): Float64Array {
  const short = Math.min(h, w), long = Math.max(h, w);
  const other = Math.max(size, Math.trunc((size * long) / short));
  const rh = h <= w ? size : other, rw = h <= w ? other : size;
  const planes = resizeRef(rgb, h, w, rh, rw, 'bicubic');
  return window(planes, rh, rw, Math.floor((rh - size) / 2), Math.floor((rw - size) / 2), size, norm);
}
