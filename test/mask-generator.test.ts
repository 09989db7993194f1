import { describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { MaskPostProcessor, pointGrid, type Proposals } from '../lib/proposals/index.js';
import { tensor } from '../lib/tensor.js';
import { freshSeed, makeRng } from './helpers/random.js';
import { amgReference, type RefConfig } from './reference/amg-reference.js';

const seed = freshSeed();
const rng = makeRng(seed);
const withSeed = (what: string) => `${what} (seed ${seed}; HRSEG_TEST_SEED=${seed} replays)`;

/** Blob-shaped logits (a cone around a random centre) with some noise, and float32 IoU predictions. */
function randomBatch(prompts: number, perPrompt: number, low: number, noise = 0.3, maxSlope = 6.5) {
  const n = prompts * perPrompt;
  const logits = new Float32Array(n * low * low);
  const iou = new Float32Array(n);
  for (let m = 0; m < n; m++) {
    const cx = rng() * low,
      cy = rng() * low,
      r = 0.5 + rng() * low * 0.6,
      slope = 0.5 + rng() * (maxSlope - 0.5);
    for (let y = 0; y < low; y++)
      for (let x = 0; x < low; x++)
        logits[m * low * low + y * low + x] = slope * (r - Math.hypot(x + 0.5 - cx, y + 0.5 - cy)) + noise * slope * (rng() * 2 - 1);
    iou[m] = 0.7 + rng() * 0.3;
  }
  return { logits, iou };
}

const RELAXED: RefConfig = {
  predIouThreshold: 0.8,
  stabilityThreshold: 0.5,
  stabilityOffset: 1,
  maskThreshold: 0,
  boxNmsThreshold: 0.7,
  maxProposals: 50,
};

async function runNative(
  cfg: RefConfig,
  geo: { low: number; frame: number; height: number; width: number },
  logits: Float32Array,
  iou: Float32Array,
  perPrompt: number,
  batch: number,
): Promise<Proposals> {
  const post = new MaskPostProcessor(cfg, geo);
  const prompts = iou.length / perPrompt;
  const plane = geo.low * geo.low;
  const points = pointGrid(Math.ceil(Math.sqrt(prompts)), geo.width, geo.height);
  const pending: Promise<void>[] = [];
  for (let p = 0; p < prompts; p += batch) {
    const b = Math.min(batch, prompts - p);
    pending.push(
      post.addBatch(
        tensor('float32', [b, perPrompt, geo.low, geo.low], logits.subarray(p * perPrompt * plane, (p + b) * perPrompt * plane)),
        tensor('float32', [b, perPrompt], iou.subarray(p * perPrompt, (p + b) * perPrompt)),
        tensor('float32', [b, 2], points.subarray(p * 2, (p + b) * 2)),
      ),
    );
  }
  await Promise.all(pending);
  return post.finish();
}

function expectSame(got: Proposals, ref: ReturnType<typeof amgReference>, H: number, W: number, what: string) {
  const K = ref.length;
  expect(got.masks.dims, withSeed(what)).toEqual([K, H, W]);
  expect(Array.from(got.source.data), withSeed(`${what}: proposals`)).toEqual(ref.map((r) => r.source));
  ref.forEach((r, k) => {
    const mask = got.masks.data.subarray(k * H * W, (k + 1) * H * W);
    let diff = 0;
    for (let i = 0; i < mask.length; i++) diff += mask[i] !== r.mask[i] ? 1 : 0;
    expect(diff, withSeed(`${what}: mask ${k} differs in ${diff} pixels`)).toBe(0);
    expect(Array.from(got.boxes.data.subarray(k * 4, k * 4 + 4)), withSeed(`${what}: box ${k}`)).toEqual(r.box);
    expect(got.areas.data[k]).toBe(r.area);
    expect(got.iou.data[k]).toBe(r.iou);
    expect(got.stability.data[k], withSeed(`${what}: stability ${k}`)).toBe(r.stability);
  });
}

describe('mask generator post-processing', () => {
  // Sharp-edged blobs (steep, little noise) so that SAM's default 0.95 stability lets some through.
  const sharp = { noise: 0.02, maxSlope: 60 };
  const cases: [string, RefConfig, { low: number; frame: number; height: number; width: number }, typeof sharp?][] = [
    ['enlarging, non-square', RELAXED, { low: 8, frame: 32, height: 20, width: 27 }],
    ['shrinking (image larger than the frame)', RELAXED, { low: 8, frame: 32, height: 50, width: 37 }],
    ['a one-row image', RELAXED, { low: 8, frame: 32, height: 1, width: 5 }],
    ['a one-pixel image', RELAXED, { low: 6, frame: 24, height: 1, width: 1 }],
    ['SAM defaults', { ...RELAXED, predIouThreshold: 0.88, stabilityThreshold: 0.95 }, { low: 16, frame: 64, height: 48, width: 64 }, sharp],
    ['tight NMS, K = 3', { ...RELAXED, boxNmsThreshold: 0.3, maxProposals: 3 }, { low: 8, frame: 32, height: 31, width: 19 }],
    ['offset 0 and threshold 0.5', { ...RELAXED, stabilityOffset: 0, maskThreshold: 0.5 }, { low: 8, frame: 32, height: 24, width: 24 }],
    // Noise-dominated logits with the filters off, as a package with random weights gives: nearly
    // every tile is mixed, so whole rows are evaluated in runs of adjacent tiles.
    [
      'noisy logits, filters off',
      { ...RELAXED, predIouThreshold: -1e9, stabilityThreshold: 0 },
      { low: 16, frame: 64, height: 48, width: 64 },
      { noise: 4, maxSlope: 1 },
    ],
  ];
  for (const [name, cfg, geo, shape] of cases)
    it(`equals the full-resolution reference: ${name}`, async () => {
      const { logits, iou } = randomBatch(12, 3, geo.low, shape?.noise, shape?.maxSlope);
      const ref = amgReference(logits, iou, geo.low, geo.frame, geo.height, geo.width, cfg);
      const got = await runNative(cfg, geo, logits, iou, 3, 5);
      expectSame(got, ref, geo.height, geo.width, name);
      expect(got.counts.evaluated).toBe(36);
    });

  it('finds candidates in the random tests (they are not vacuous)', () => {
    const geo = { low: 8, frame: 32, height: 20, width: 27 };
    const { logits, iou } = randomBatch(12, 3, geo.low);
    expect(amgReference(logits, iou, geo.low, geo.frame, geo.height, geo.width, RELAXED).length).toBeGreaterThan(2);
  });

  it('does not depend on how prompts are batched', async () => {
    const geo = { low: 8, frame: 32, height: 30, width: 22 };
    const { logits, iou } = randomBatch(10, 3, geo.low);
    const one = await runNative(RELAXED, geo, logits, iou, 3, 1);
    const all = await runNative(RELAXED, geo, logits, iou, 3, 10);
    expect(Array.from(one.source.data)).toEqual(Array.from(all.source.data));
    expect(Buffer.compare(Buffer.from(one.masks.data), Buffer.from(all.masks.data))).toBe(0);
  });

  it('nothing passing gives K = 0 with the right shape', async () => {
    const geo = { low: 8, frame: 32, height: 9, width: 7 };
    const { logits, iou } = randomBatch(4, 3, geo.low);
    const got = await runNative({ ...RELAXED, predIouThreshold: 2 }, geo, logits, iou, 3, 4);
    expect(got.masks.dims).toEqual([0, 9, 7]);
    expect(got.counts).toEqual({ evaluated: 12, passedIou: 0, passedStability: 0, afterNms: 0 });
  });

  it('rejects bad shapes and settings with typed errors', async () => {
    const geo = { low: 8, frame: 32, height: 9, width: 7 };
    const post = new MaskPostProcessor(RELAXED, geo);
    const bad = post.addBatch(tensor('float32', [1, 3, 8, 7]), tensor('float32', [1, 3]), tensor('float32', [1, 2]));
    await expect(bad).rejects.toMatchObject({ code: 'INVALID_TENSOR' });
    await expect(post.addBatch(tensor('float32', [2, 3, 8, 8]), tensor('float32', [2, 2]), tensor('float32', [2, 2]))).rejects.toMatchObject({
      code: 'INVALID_TENSOR',
      message: expect.stringMatching(/iou_predictions/),
    });
    expect(() => new MaskPostProcessor({ cropLayers: 1 }, geo)).toThrow(HrsegError);
    expect(() => new MaskPostProcessor({ stabilityThreshold: 2 }, geo)).toThrow(/stabilityThreshold/);
    expect(() => new MaskPostProcessor({}, { ...geo, width: 0 })).toThrow(/width/);
  });
});
