/**
 * The resizes that reproduce LLM-Seg's evaluation (lib/pipeline/resize.ts) against golden data from
 * OpenCV and PyTorch themselves (scripts/fixtures/make_llmseg_resize_golden.py), and against
 * definitions written here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { areaDownscale, downscaledSize, nearestIndices, resizeNearest } from '../lib/pipeline/resize.js';

interface Golden {
  torch: string;
  opencv: string;
  area: { height: number; width: number; maxSide: number; outHeight: number; outWidth: number; image: string; out: string }[];
  nearest: { in: number; out: number; index: number[] }[];
}
const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/llmseg-resize.json'), 'utf8')) as Golden;
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('LLM-Seg resizes', () => {
  it(`nearest indices equal PyTorch ${golden.torch}'s F.interpolate(mode="nearest")`, () => {
    for (const g of golden.nearest) expect(Array.from(nearestIndices(g.in, g.out)), `${g.in} → ${g.out}`).toEqual(g.index);
  });

  it(`the INTER_AREA shrink equals OpenCV ${golden.opencv}'s, sizes as LLM-Seg computes them`, () => {
    for (const g of golden.area) {
      expect(downscaledSize(g.width, g.height, g.maxSide)).toEqual({ width: g.outWidth, height: g.outHeight });
      const out = areaDownscale({ width: g.width, height: g.height, data: bytes(g.image) }, g.outWidth, g.outHeight);
      const want = bytes(g.out);
      let worst = 0,
        off = 0;
      for (let i = 0; i < want.length; i++) {
        const e = Math.abs(out.data[i] - want[i]);
        worst = Math.max(worst, e);
        if (e) off++;
      }
      // OpenCV sums in float32; we sum in float64, so a value on a rounding edge may land one grey level away.
      expect(worst, `${g.width}×${g.height} → ${g.outWidth}×${g.outHeight}`).toBeLessThanOrEqual(1);
      expect(off / want.length, `${g.width}×${g.height}: share of values one level off`).toBeLessThan(0.01);
    }
  });

  it('the INTER_AREA shrink is the covered-area average (definition, fractional factors)', () => {
    const W = 23,
      H = 17,
      w = 9,
      h = 7;
    const data = new Uint8Array(W * H * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) % 256;
    const out = areaDownscale({ width: W, height: H, data }, w, h);
    const sx = W / w,
      sy = H / h;
    const cover = (o: number, s: number, i: number) => Math.max(0, Math.min((o + 1) * s, i + 1) - Math.max(o * s, i));
    for (let oy = 0; oy < h; oy++)
      for (let ox = 0; ox < w; ox++)
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) acc += cover(oy, sy, y) * cover(ox, sx, x) * data[(y * W + x) * 3 + c];
          expect(Math.abs(out.data[(oy * w + ox) * 3 + c] - acc / (sx * sy))).toBeLessThanOrEqual(0.5 + 1e-9);
        }
  });

  it('resizeNearest gathers rows and columns by the nearest indices; sizes at or under the limit are kept', () => {
    const h = 5,
      w = 7,
      H = 13,
      W = 11,
      K = 2;
    const planes = Uint8Array.from({ length: K * h * w }, (_, i) => (i * 7) % 256);
    const out = resizeNearest(planes, K, h, w, H, W);
    const ys = nearestIndices(h, H),
      xs = nearestIndices(w, W);
    for (let k = 0; k < K; k++)
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(out[(k * H + y) * W + x]).toBe(planes[(k * h + ys[y]) * w + xs[x]]);
    expect(downscaledSize(1024, 768, 1024)).toBeUndefined();
    expect(downscaledSize(4032, 3024, 1024)).toEqual({ width: 1024, height: 768 });
    expect(() => downscaledSize(10, 10, 0)).toThrow(/proposalMaxSide/);
  });
});
