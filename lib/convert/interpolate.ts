/**
 * PyTorch's bicubic resampling as separable weight tables, for baking a position-embedding table
 * at conversion time exactly as the official code resamples it at run time:
 *
 * - `bicubicScaleTaps`: F.interpolate(mode="bicubic", align_corners=False, scale_factor=s) — the
 *   source coordinate is (o + ½)/s − ½ (not clamped), taps i−1 … i+2 clamped to the border, Keys'
 *   cubic with A = −0.75 (aten UpSample.h, upsample_bicubic2d);
 * - `bicubicAntialiasTaps`: the same with size=… and antialias=True — PIL's filter: the cubic with
 *   a = −0.5, support 2·max(in/out, 1), weights normalised per output (aten UpSampleKernel.cpp).
 *
 * Each is, per output, the list of (input, weight) pairs; `resample2d` applies them to an
 * [M, M, C] grid. Computed in float64 (PyTorch computes in float32: they agree to ~1e-7).
 */
export type Taps = { index: number; weight: number }[][];

function keys(x: number, a: number): number {
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

export function bicubicScaleTaps(inSize: number, scaleFactor: number): Taps {
  return bicubicTaps(inSize, Math.floor(inSize * scaleFactor), 1 / scaleFactor);
}

/** PyTorch's bicubic to a size (align_corners False, no antialias): scale = in/out, A = −0.75. */
export function bicubicSizeTaps(inSize: number, outSize: number): Taps {
  return bicubicTaps(inSize, outSize, inSize / outSize);
}

function bicubicTaps(inSize: number, out: number, scale: number): Taps {
  const taps: Taps = [];
  for (let o = 0; o < out; o++) {
    const src = (o + 0.5) * scale - 0.5;
    const i = Math.floor(src),
      t = src - i;
    const row: { index: number; weight: number }[] = [];
    for (let k = -1; k <= 2; k++) row.push({ index: Math.min(Math.max(i + k, 0), inSize - 1), weight: keys(t - k, -0.75) });
    taps.push(row);
  }
  return taps;
}

export function bicubicAntialiasTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = 2 * Math.max(scale, 1),
    invscale = scale >= 1 ? 1 / scale : 1;
  const taps: Taps = [];
  for (let o = 0; o < outSize; o++) {
    const center = scale * (o + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0),
      hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const row: { index: number; weight: number }[] = [];
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = keys((j - center + 0.5) * invscale, -0.5);
      row.push({ index: j, weight: w });
      total += w;
    }
    if (total !== 0) for (const r of row) r.weight /= total;
    taps.push(row);
  }
  return taps;
}

/** grid [M, M, C] (rows then columns) → [rows.length, cols.length, C]. */
export function resample2d(grid: Float32Array, M: number, C: number, rows: Taps, cols: Taps): Float32Array {
  const tmp = new Float64Array(M * cols.length * C);
  for (let y = 0; y < M; y++)
    cols.forEach((taps, x) => {
      const o = (y * cols.length + x) * C;
      for (const { index, weight } of taps) {
        const s = (y * M + index) * C;
        for (let c = 0; c < C; c++) tmp[o + c] += weight * grid[s + c];
      }
    });
  const out = new Float32Array(rows.length * cols.length * C);
  rows.forEach((taps, y) => {
    for (let x = 0; x < cols.length; x++) {
      const o = (y * cols.length + x) * C;
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (const { index, weight } of taps) acc += weight * tmp[(index * cols.length + x) * C + c];
        out[o + c] = acc;
      }
    }
  });
  return out;
}
