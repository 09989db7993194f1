/**
 * LISA's postprocess (lib/lisa/masks.ts) against LISA's own code: the golden low-resolution decoder
 * logits of test/fixtures/lisa (scripts/fixtures/make_lisa_golden.py: dvlab-research/LISA@3cb2d430
 * run in float32) brought to the image's size must give LISA's mask logits (≤ 1e-4 relative) and
 * the same mask; skipping the crop before the final resize (a detail a port can miss) must not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { lisaMaskLogits, masksFromLogits } from '../lib/lisa/masks.js';
import { tensor } from '../lib/tensor.js';
import { relError } from './helpers/random.js';

const FIX = join(import.meta.dirname, 'fixtures/lisa');
interface Case {
  name: string;
  image: string;
  low_res_logits?: string;
  low_res_shape: number[];
  mask_logits: string;
  mask_logits_shape: number[];
  mask: string;
}
const meta = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8')) as {
  upstream: unknown;
  images: Record<string, { width: number; height: number }>;
  cases: Case[];
};
const f32 = (file: string) => {
  const b = readFileSync(join(FIX, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** PyTorch's bilinear resize (align_corners false) of one [h, w] plane to [H, W], in float64. */
function bilinear(src: Float64Array | Float32Array, h: number, w: number, H: number, W: number): Float64Array {
  const taps = (n: number, N: number) =>
    Array.from({ length: N }, (_, o) => {
      const x = Math.max(0, ((o + 0.5) * n) / N - 0.5),
        i0 = Math.min(Math.floor(x), n - 1),
        i1 = Math.min(i0 + 1, n - 1);
      return [i0, i1, x - i0] as const;
    });
  const ry = taps(h, H),
    rx = taps(w, W),
    out = new Float64Array(H * W);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const [y0, y1, fy] = ry[y],
        [x0, x1, fx] = rx[x];
      const top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx,
        bottom = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
      out[y * W + x] = top * (1 - fy) + bottom * fy;
    }
  return out;
}

describe(`LISA's postprocess against LISA's code (${JSON.stringify(meta.upstream).slice(0, 80)}…)`, () => {
  const cases = meta.cases.filter((c) => c.low_res_logits);
  it('the golden data holds low-resolution logits for at least two images of other shapes', () => {
    expect(new Set(cases.map((c) => c.image)).size).toBeGreaterThanOrEqual(2);
  });

  for (const c of cases)
    it(`${c.name}: logits at ${meta.images[c.image].height}×${meta.images[c.image].width} and the mask equal LISA's; no crop before the last resize misses`, () => {
      const img = meta.images[c.image],
        [, , L] = c.low_res_shape.slice(-3);
      const low = f32(c.low_res_logits!);
      const got = lisaMaskLogits(tensor('float32', c.low_res_shape, low), img);
      expect(got.dims).toEqual(c.mask_logits_shape);
      const want = f32(c.mask_logits);
      expect(relError(got.data, want)).toBeLessThan(1e-4);
      const mask = masksFromLogits(got).data,
        wantMask = new Uint8Array(readFileSync(join(FIX, c.mask)));
      expect(mask.reduce((n, v, i) => n + (v !== wantMask[i] ? 1 : 0), 0)).toBe(0);
      expect(wantMask.some((v) => v === 1) && wantMask.some((v) => v === 0)).toBe(true); // not a trivial mask
      // The wrong port: the whole 1024² frame (padding included) resized to the image.
      const wrong = bilinear(bilinear(low, L, L, 1024, 1024), 1024, 1024, img.height, img.width);
      expect(relError(wrong, want)).toBeGreaterThan(1e-2);
    });

  it('refuses logits that are not [n, L, L] or [n, 1, L, L]', () => {
    expect(() => lisaMaskLogits(tensor('float32', [1, 3, 4, 4], new Float32Array(48)), { width: 4, height: 4 })).toThrow(/\[n, L, L\]/);
  });
});
