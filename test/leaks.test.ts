/**
 * Native memory handed to JS by the newer bindings (views, proposals, RLE masks, embedding rows)
 * is released once the JS objects are collected, across thousands of calls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { MaskPostProcessor } from '../lib/proposals/index.js';
import { decodeRle, encodeRle } from '../lib/rle.js';
import { tensor } from '../lib/tensor.js';
import { liveAllocations } from '../lib/testing.js';
import { SAM_VIEW, squareView, tiledView } from '../lib/views.js';
import { EmbeddingTable } from '../lib/vlm/index.js';
import { gcUntil } from './helpers/gc.js';
import { writeTinyVlm } from './helpers/tiny-vlm-files.js';

it('views, proposals, RLE masks and embedding rows do not leak over 1500 rounds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hrseg-leak-'));
  const table = EmbeddingTable.open(writeTinyVlm(dir).embeddings);
  const image = { data: new Uint8Array(12 * 9 * 3).fill(77), width: 12, height: 9 };
  const low = 8;
  const logits = new Float32Array(2 * 3 * low * low).map((_, i) => ((i * 37) % 17) - 6);
  const iou = new Float32Array(6).fill(0.95);
  const points = new Float32Array(4).fill(3);
  const base = liveAllocations();
  let peak = 0;
  for (let i = 0; i < 1500; i++) {
    peak = Math.max(peak, liveAllocations().count);
    await squareView(image, { ...SAM_VIEW, size: 16 });
    await tiledView(image, { ...SAM_VIEW, size: 8 }, 2);
    const post = new MaskPostProcessor({ stabilityThreshold: 0, predIouThreshold: 0 }, { low, frame: 32, height: 9, width: 12 });
    await post.addBatch(tensor('float32', [2, 3, low, low], logits), tensor('float32', [2, 3], iou), tensor('float32', [2, 2], points));
    const p = await post.finish();
    if (p.masks.dims[0] > 0) decodeRle(encodeRle(p.masks.data.subarray(0, 9 * 12), 9, 12));
    table.gather([1, 2, 3]);
  }
  expect(peak).toBeGreaterThan(base.count + 10); // the outputs are counted (the test can see a leak)
  expect(await gcUntil(() => liveAllocations().count <= base.count)).toBe(true);
  expect(liveAllocations().bytes).toBeLessThanOrEqual(base.bytes);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);
