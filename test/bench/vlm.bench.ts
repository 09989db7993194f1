/**
 * Per-token overhead of the generation loop outside the model: greedy decoding on the tiny VLM
 * (a variant that never stops by itself) for a fixed number of tokens; the loop's time minus the
 * time spent inside the decoder's run() is what hrseg adds per token (embedding gather, argmax,
 * tensor set-up, incremental detokenisation, streaming).
 * Run: npm run bench
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { VlmRunner } from '../../lib/vlm/index.js';
import { writeTinyVlm } from '../helpers/tiny-vlm-files.js';

it('VLM generation loop: overhead per token outside the model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hrseg-vlm-bench-'));
  const runner = await VlmRunner.load(writeTinyVlm(dir, { endless: true }));
  const image = { data: new Uint8Array(64 * 48 * 3).fill(120), width: 64, height: 48 };
  const ctx = await runner.prepare(image);
  const tokens = 256;
  await runner.answer(ctx, 'the red shape', { maxNewTokens: 32 }); // warm-up
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await runner.answer(ctx, 'the red shape', { maxNewTokens: tokens }));
  const per = runs
    .map((a) => ({ loop: (a.timings.decodeMs * 1000) / a.timings.steps, model: (a.timings.modelMs * 1000) / a.timings.steps }))
    .sort((a, b) => a.loop - a.model - (b.loop - b.model));
  const mid = per[Math.floor(per.length / 2)];
  console.log(`\nVLM generation loop (tiny model, ${tokens} tokens, median of 5)`);
  console.log(`  time per token, whole loop                         ${mid.loop.toFixed(1)} µs`);
  console.log(`  of which inside the decoder (onnxruntime run)      ${mid.model.toFixed(1)} µs`);
  console.log(`  loop overhead per token (hrseg)                    ${(mid.loop - mid.model).toFixed(1)} µs`);
  expect(runs[0].timings.steps).toBe(tokens);
  await runner.dispose();
  rmSync(dir, { recursive: true, force: true });
}, 300_000);
