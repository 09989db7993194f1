import { describe, expect, it } from 'vitest';

import { decodeRle, encodeRle } from '../lib/rle.js';
import { freshSeed, makeRng } from './helpers/random.js';

const seed = freshSeed();
const rng = makeRng(seed);

/** Plain column-major run lengths, starting with zeros: the definition, for comparison. */
function runs(mask: Uint8Array, h: number, w: number): number[] {
  const out: number[] = [];
  let current = 0,
    length = 0;
  for (let x = 0; x < w; x++)
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v !== current) {
        out.push(length);
        current = v;
        length = 0;
      }
      length++;
    }
  out.push(length);
  return out;
}

describe('COCO RLE from JS', () => {
  it('matches a hand-checked pycocotools string', () => {
    // 2×3 mask rows [0 1 1] [0 0 1] → column-major runs 2,1,1,2. pycocotools stores the fourth
    // count as its difference to the second (2 − 1 = 1): "2111".
    const rle = encodeRle(Uint8Array.from([0, 1, 1, 0, 0, 1]), 2, 3);
    expect(rle).toEqual({ size: [2, 3], counts: '2111' });
    expect(Array.from(decodeRle(rle).data)).toEqual([0, 1, 1, 0, 0, 1]);
    expect(Array.from(decodeRle({ size: [2, 3], counts: [2, 1, 1, 2] }).data)).toEqual([0, 1, 1, 0, 0, 1]);
  });

  it('round-trips random masks and agrees with the plain run lengths', () => {
    for (let rep = 0; rep < 30; rep++) {
      const h = 1 + Math.floor(rng() * 40),
        w = 1 + Math.floor(rng() * 40),
        p = rng();
      const mask = new Uint8Array(h * w).map(() => (rng() < p ? 1 : 0));
      const rle = encodeRle(mask, h, w);
      expect(decodeRle(rle).dims).toEqual([h, w]);
      expect(Array.from(decodeRle(rle).data), `seed ${seed}`).toEqual(Array.from(mask));
      expect(Array.from(decodeRle({ size: [h, w], counts: runs(mask, h, w) }).data)).toEqual(Array.from(mask));
    }
  });

  it('rejects counts that do not cover the mask, bad characters and bad sizes', () => {
    expect(() => decodeRle({ size: [2, 2], counts: [1, 1] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => decodeRle({ size: [2, 2], counts: '\u0001' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => decodeRle({ size: [2, 2], counts: [1.5, 2.5] })).toThrow(/non-negative integers/);
    expect(() => decodeRle({ size: [-1, 2], counts: [] })).toThrow(/size/);
    expect(() => encodeRle(new Uint8Array(5), 2, 3)).toThrow(expect.objectContaining({ code: 'INVALID_TENSOR' }));
  });
});
