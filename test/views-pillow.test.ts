/**
 * Views with `roundTo8Bits` (native/core/src/views.cc pillow_resize8) against the TypeScript
 * transcription of Pillow's 8-bit resize (test/helpers/pillow-resize.ts, whose output is
 * sha256-equal to Pillow's in test/lisa-goldens.test.ts) on fresh random images, shrinking
 * (antialiased taps) and enlarging, square (bilinear) and centre-crop (bicubic) views.
 */
import { describe, expect, it } from 'vitest';

import { CLIP_VIEW, SAM_VIEW, centerCropView, squareView } from '../lib/views.js';
import { pillowResize } from './helpers/pillow-resize.js';
import { freshSeed, makeRng } from './helpers/random.js';

const seed = freshSeed();
const rng = makeRng(seed);
const image = (h: number, w: number) => ({
  data: Uint8Array.from({ length: h * w * 3 }, () => Math.floor(rng() * 256)),
  width: w,
  height: h,
  channels: 3 as const,
});

describe(`views rounded to 8 bits as Pillow does (seed ${seed})`, () => {
  for (const [h, w] of [
    [37, 53],
    [300, 171],
    [97, 97],
  ] as const)
    it(`${h}×${w}: square view to 64 (bilinear) and centre-crop view to 40 (bicubic) equal Pillow's resize, normalised`, async () => {
      const im = image(h, w);
      const spec = { ...SAM_VIEW, size: 64, roundTo8Bits: true };
      const sq = await squareView(im, spec);
      const [H, W] = [sq.contentHeight, sq.contentWidth];
      const r = pillowResize(im.data, h, w, H, W, 'bilinear');
      let worst = 0;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 64; y++)
          for (let x = 0; x < 64; x++) {
            const want = y < H && x < W ? (r[(y * W + x) * 3 + c] - spec.mean[c]) / spec.std[c] : 0;
            worst = Math.max(worst, Math.abs(sq.tensor.data[(c * 64 + y) * 64 + x] - want));
          }
      expect(worst).toBeLessThan(1e-5);
      const cc = await centerCropView(im, { ...CLIP_VIEW, size: 40, roundTo8Bits: true });
      const n = Math.trunc((40 * Math.max(h, w)) / Math.min(h, w)),
        [CH, CW] = h <= w ? [40, n] : [n, 40];
      const rc = pillowResize(im.data, h, w, CH, CW, 'bicubic'),
        top = Math.floor((CH - 40) / 2),
        left = Math.floor((CW - 40) / 2);
      worst = 0;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 40; y++)
          for (let x = 0; x < 40; x++) {
            const want = (rc[((y + top) * CW + x + left) * 3 + c] - CLIP_VIEW.mean[c]) / CLIP_VIEW.std[c];
            worst = Math.max(worst, Math.abs(cc.tensor.data[(c * 40 + y) * 40 + x] - want));
          }
      expect(worst).toBeLessThan(1e-5);
    });
});
