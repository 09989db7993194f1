import { describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { CLIP_VIEW, DINO_VIEW, SAM_VIEW, centerCropView, squareView, tiledView } from '../lib/views.js';
import { freshSeed, makeRng } from './helpers/random.js';
import { centerCropRef, squareViewRef, tiledViewRef } from './reference/views-reference.js';

const seed = freshSeed();
const rng = makeRng(seed);
const withSeed = (what: string) => `${what} (seed ${seed}; HRSEG_TEST_SEED=${seed} replays)`;

function randomImage(height: number, width: number) {
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng() * 256);
  return { data, width, height };
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const unit = { mean: [0, 0, 0] as const, std: [1, 1, 1] as const };

describe('views', () => {
  it('a 1×2 image to a 4² view: hand-computed values, padding below', async () => {
    // Pillow's bilinear upsampling ×2 of [0, 255]: centres 0.25, 0.75, 1.25, 1.75 in source units;
    // the triangle's weights on pixels 0/1 are 1/0, 3/4 and 1/4, 1/4 and 3/4, 0/1. Height 1 → 2.
    const img = { data: Uint8Array.from([0, 0, 0, 255, 255, 255]), width: 2, height: 1 };
    const v = await squareView(img, { size: 4, ...unit });
    expect(v.tensor.dims).toEqual([1, 3, 4, 4]);
    expect([v.contentHeight, v.contentWidth]).toEqual([2, 4]);
    const row = [0, 63.75, 191.25, 255];
    for (let c = 0; c < 3; c++) {
      const plane = Array.from(v.tensor.data.subarray(c * 16, c * 16 + 16));
      expect(plane).toEqual([...row, ...row, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    // Normalisation is applied before padding: padded cells stay exactly 0.
    const n = await squareView(img, { size: 4, mean: [10, 20, 30], std: [2, 4, 5] });
    expect(n.tensor.data[0]).toBeCloseTo(-5, 6);
    expect(n.tensor.data[16 + 3]).toBeCloseTo((255 - 20) / 4, 5);
    expect(n.tensor.data[32 + 8]).toBe(0);
  });

  it('square views match the float64 reference (shrinking, enlarging, non-square, tiny)', async () => {
    for (const [h, w, size] of [
      [1, 1, 7],
      [1, 9, 8],
      [13, 5, 16],
      [40, 17, 24],
      [37, 64, 20],
      [30, 30, 30],
    ]) {
      const img = randomImage(h, w);
      const v = await squareView(img, { ...SAM_VIEW, size });
      const ref = squareViewRef(img.data, h, w, size, SAM_VIEW);
      expect([v.contentHeight, v.contentWidth], withSeed(`${h}×${w}`)).toEqual([ref.rh, ref.rw]);
      expect(maxAbs(v.tensor.data, ref.data), withSeed(`square ${h}×${w} → ${size}`)).toBeLessThan(1e-4);
    }
  });

  it('the local view is the N·S square view cut into N² crops in raster order', async () => {
    for (const [h, w, size, n] of [
      [23, 31, 6, 2],
      [10, 4, 5, 3],
      [3, 3, 4, 1],
    ]) {
      const img = randomImage(h, w);
      const v = await tiledView(img, { ...DINO_VIEW, size }, n);
      expect(v.tensor.dims).toEqual([n * n, 3, size, size]);
      const crops = tiledViewRef(img.data, h, w, size, n, DINO_VIEW);
      crops.forEach((crop, i) => {
        const got = v.tensor.data.subarray(i * crop.length, (i + 1) * crop.length);
        expect(maxAbs(got, crop), withSeed(`tile ${i} of ${h}×${w}`)).toBeLessThan(1e-4);
      });
    }
  });

  it('the CLIP view: shortest side to S, bicubic, centre crop', async () => {
    for (const [h, w, size] of [
      [20, 33, 12],
      [33, 20, 12],
      [8, 8, 12],
      [5, 50, 9],
    ]) {
      const img = randomImage(h, w);
      const v = await centerCropView(img, { ...CLIP_VIEW, size });
      expect(v.tensor.dims).toEqual([1, 3, size, size]);
      expect(maxAbs(v.tensor.data, centerCropRef(img.data, h, w, size, CLIP_VIEW)), withSeed(`clip ${h}×${w}`)).toBeLessThan(1e-4);
    }
  });

  it('bad sizes and images give typed errors', async () => {
    const img = randomImage(4, 4);
    await expect(squareView(img, { ...SAM_VIEW, size: 0 })).rejects.toThrow(HrsegError);
    await expect(tiledView(img, DINO_VIEW, 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(squareView({ ...img, width: 5 }, SAM_VIEW)).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
    const controller = new AbortController();
    controller.abort();
    await expect(squareView(img, SAM_VIEW, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
