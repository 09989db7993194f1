/**
 * Benchmark of the mask generator's post-processing at real shapes: 1024 point prompts × 3 masks
 * of 256² logits for a 1024×768 image (16 batches of 64 prompts, SAM's defaults). The logits are
 * SAM-like, smooth blobs with a soft edge and a little noise, and the predicted IoUs spread over
 * [0.6, 1] so that part of them pass 0.88. Reports the native time and its ratio against the plain
 * full-resolution reference of the tests (test/reference/amg-reference.ts), which is timed on a
 * random subset of the same masks and scaled per mask (it is linear in the number of masks).
 * Run: npm run bench
 */
import { expect, it } from 'vitest';

import { runtimeInfo } from '../../lib/index.js';
import { MaskPostProcessor, pointGrid } from '../../lib/proposals/index.js';
import { tensor } from '../../lib/tensor.js';
import { makeRng } from '../helpers/random.js';
import { amgReference } from '../reference/amg-reference.js';

const ITER = Number(process.env.HRSEG_BENCH_ITER ?? 5);
const REF_MASKS = Number(process.env.HRSEG_BENCH_REF_MASKS ?? 48);

it('mask generator post-processing: 1024 prompts × 3 masks, 1024×768', async () => {
  const rng = makeRng(11);
  const low = 256,
    frame = 1024,
    H = 768,
    W = 1024,
    prompts = 1024,
    perPrompt = 3,
    batch = 64;
  const n = prompts * perPrompt;
  const logits = new Float32Array(n * low * low);
  const iou = new Float32Array(n);
  for (let m = 0; m < n; m++) {
    // An ellipse in the content area (rows < 192 of 256: the image is 4:3 in a square frame).
    const cx = rng() * low,
      cy = rng() * 192,
      rx = 4 + rng() * 80,
      ry = 4 + rng() * 60,
      slope = 4 + rng() * 16;
    const plane = logits.subarray(m * low * low, (m + 1) * low * low);
    for (let y = 0; y < low; y++)
      for (let x = 0; x < low; x++) {
        const r = Math.hypot((x + 0.5 - cx) / rx, (y + 0.5 - cy) / ry);
        plane[y * low + x] = slope * (1 - r) * Math.min(rx, ry) * 0.25 + (rng() - 0.5) * 0.5;
      }
    iou[m] = 0.6 + 0.4 * rng();
  }
  const points = pointGrid(32, W, H);
  const config = {}; // SAM's defaults
  const geo = { low, frame, height: H, width: W };

  const runNative = async () => {
    const post = new MaskPostProcessor(config, geo);
    for (let p = 0; p < prompts; p += batch)
      await post.addBatch(
        tensor('float32', [batch, perPrompt, low, low], logits.subarray(p * perPrompt * low * low, (p + batch) * perPrompt * low * low)),
        tensor('float32', [batch, perPrompt], iou.subarray(p * perPrompt, (p + batch) * perPrompt)),
        tensor('float32', [batch, 2], points.subarray(p * 2, (p + batch) * 2)),
      );
    return post.finish();
  };
  const result = await runNative();
  const times: number[] = [];
  for (let i = 0; i < ITER; i++) {
    const t0 = performance.now();
    await runNative();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const tNative = times[Math.floor(times.length / 2)];

  // The plain reference on a random subset of masks, scaled to all of them.
  const pick = Array.from({ length: REF_MASKS }, () => Math.floor(rng() * n));
  const subLogits = new Float32Array(REF_MASKS * low * low),
    subIou = new Float32Array(REF_MASKS);
  pick.forEach((m, i) => {
    subLogits.set(logits.subarray(m * low * low, (m + 1) * low * low), i * low * low);
    subIou[i] = iou[m];
  });
  const cfg = { predIouThreshold: 0.88, stabilityThreshold: 0.95, stabilityOffset: 1, maskThreshold: 0, boxNmsThreshold: 0.7, maxProposals: 50 };
  const t0 = performance.now();
  amgReference(subLogits, subIou, low, frame, H, W, cfg);
  const tRef = ((performance.now() - t0) / REF_MASKS) * n;

  const info = runtimeInfo();
  const c = result.counts;
  const rows = [
    ['machine', `${info.cpuThreads} threads`],
    [
      'masks: evaluated / passed IoU / passed stability / after NMS / kept',
      `${c.evaluated} / ${c.passedIou} / ${c.passedStability} / ${c.afterNms} / ${result.masks.dims[0]}`,
    ],
    ['native post-processing (median of ' + ITER + ')', `${tNative.toFixed(1)} ms`],
    [`plain full-resolution reference (${REF_MASKS} masks timed, scaled to ${n})`, `${(tRef / 1000).toFixed(1)} s`],
    ['native speed-up over the reference', `${(tRef / tNative).toFixed(0)}x`],
  ];
  console.log('\nmask generator post-processing (1024 prompts x 3 masks of 256², 1024x768, SAM defaults)');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(70)} ${v}`);
  expect(result.masks.dims).toEqual([Math.min(50, c.afterNms), H, W]);
}, 600_000);
