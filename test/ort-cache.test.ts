/**
 * The CPU model cache (lib/engines/ort-cache.ts): ONNX Runtime's optimized graph with pre-packed
 * weights, written at the first load of a large graph and loaded from then on. The threshold is
 * lowered so that a small quantized graph takes the path the 7B decoder takes.
 */
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { quantizedWeight } from '../lib/convert/quantize.js';
import { OnnxEngine } from '../lib/engines/onnx-runtime.js';
import { native } from '../lib/native.js';
import { GraphBuilder } from '../lib/onnx/graph.js';
import { tensor } from '../lib/tensor.js';
import { freshSeed, makeRng, uniform } from './helpers/random.js';

const work = mkdtempSync(join(tmpdir(), 'hrseg-ort-cache-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const seed = freshSeed();
const rng = makeRng(seed);

describe(`the CPU model cache (seed ${seed})`, () => {
  // A graph with vlm/vision's contract: pixel_values [1, 3, 8, 8] → image_embeds [1, 3, 96]
  // through an int4 DequantizeLinear → MatMul (what ONNX Runtime rewrites and pre-packs).
  const inDim = 64,
    out = 96;
  const g = new GraphBuilder();
  const x = g.input('pixel_values', 'float', [1, 3, 8, 8]);
  const rows = g.op('Reshape', [x, g.int64('shape', [1, 3, inDim])]);
  const w = uniform(rng, out * inDim, 0.05);
  g.op('MatMul', [rows, quantizedWeight(g, 'w', () => w, out, inDim, { bits: 4 })], {}, ['image_embeds']);
  g.output('image_embeds', 'float', [1, 3, out]);
  const file = join(work, 'model.onnx');
  writeFileSync(file, g.encode(21));
  const dir = join(work, 'cache');
  const xs = tensor('float32', [1, 3, 8, 8], uniform(rng, 3 * inDim, 1));
  const run = async (e: OnnxEngine) => (await (await e.run({ pixel_values: xs })).image_embeds.host()).data as Float32Array;

  it('writes the entry at the first load, loads it afterwards, and both give the uncached result', async () => {
    const plain = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: false });
    const first = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } });
    const second = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } });
    expect([plain.cpuCache, first.cpuCache, second.cpuCache]).toEqual(['off', 'written', 'hit']);
    const want = await run(plain);
    expect(await run(first)).toEqual(want);
    expect(await run(second)).toEqual(want);
    await Promise.all([plain.dispose(), first.dispose(), second.dispose()]);
    const entries = readdirSync(dir);
    expect(entries).toHaveLength(1);
    expect(readdirSync(join(dir, entries[0])).sort()).toEqual(['meta.json', 'model.onnx', 'model.onnx.data']);
  });

  it('a changed file gets a new entry and the stale one is removed; a damaged entry is replaced by the graph itself', async () => {
    const before = readdirSync(dir);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const e = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } });
    expect(e.cpuCache).toBe('written');
    await e.dispose();
    const after = readdirSync(dir);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    writeFileSync(join(dir, after[0], 'model.onnx'), 'not a model');
    const d = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } });
    expect(d.cpuCache).toMatch(/^not used: /);
    expect((await run(d)).length).toBe(3 * out);
    await d.dispose();
    expect(readdirSync(dir)).toHaveLength(0); // the damaged entry is gone: the next load writes it again
  });

  it('graphs under the threshold are not cached', async () => {
    const e = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir: join(work, 'other') } });
    expect(e.cpuCache).toBe('off');
    await e.dispose();
  });
});

describe.runIf(process.platform === 'linux')(`mapped weights handed back to the page cache (seed ${seed})`, () => {
  // 4 MiB of float32 weights, mapped from the cache entry (ONNX Runtime maps external data).
  const inDim = 1024,
    out = 1024;
  const g = new GraphBuilder();
  const x = g.input('pixel_values', 'float', [1, 3, 32, 32]);
  const rows = g.op('Reshape', [x, g.int64('shape', [1, 3, inDim])]);
  const w = uniform(rng, out * inDim, 0.05);
  g.op('MatMul', [rows, g.float('w', [inDim, out], w)], {}, ['image_embeds']);
  g.output('image_embeds', 'float', [1, 3, out]);
  const file = join(work, 'mapped.onnx');
  writeFileSync(file, g.encode(17));
  const xs = tensor('float32', [1, 3, 32, 32], uniform(rng, 3 * inDim, 1));
  const run = async (e: OnnxEngine) => (await (await e.run({ pixel_values: xs })).image_embeds.host()).data as Float32Array;

  it('after load, and after every run with releaseAfterRun, with the same results run after run', async () => {
    const dir = join(work, 'cache-release');
    const plain = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: false });
    const want = await run(plain);
    await plain.dispose();
    const writing = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } });
    await writing.dispose();
    const kept = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } });
    const released = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 }, releaseAfterRun: true });
    expect([kept.cpuCache, released.cpuCache]).toEqual(['hit', 'hit']);
    try {
      const afterLoad = released.weightBytesReleased;
      for (let i = 0; i < 3; i++) {
        expect(await run(released)).toEqual(want);
        expect(await run(kept)).toEqual(want);
      }
      // Each run read the weights back in and handed them back again; the other engine only
      // after its load (both map the same entry: its pages count where they are resident).
      expect(released.weightBytesReleased).toBeGreaterThanOrEqual(afterLoad + 3 * 4 * inDim * out * 0.9);
    } finally {
      await Promise.all([kept.dispose(), released.dispose()]);
    }
  });

  it('prefetch reads the mapped weights ahead without mapping them in, and the results stay the same', async () => {
    const dir = join(work, 'cache-prefetch');
    const plain = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: false });
    const want = await run(plain);
    await plain.prefetch(); // nothing mapped: nothing to do
    await plain.dispose();
    await (await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 } })).dispose();
    const engine = await OnnxEngine.load(file, 'vlm/vision', { cpuCache: { dir, minBytes: 0 }, releaseAfterRun: true });
    try {
      expect(engine.cpuCache).toBe('hit');
      const before = engine.weightBytesReleased;
      await engine.prefetch();
      // The prefetch did not fault the pages into the process: after the next run, the release
      // counts what that run read, as it would without the prefetch.
      expect(await run(engine)).toEqual(want);
      expect(engine.weightBytesReleased - before).toBeGreaterThanOrEqual(4 * inDim * out * 0.9);
      await engine.prefetch();
      expect(await run(engine)).toEqual(want);
    } finally {
      await engine.dispose();
    }
    await engine.prefetch(); // disposed: nothing to do
  });

  it('the native calls take only an absolute folder (an empty or relative prefix would match mappings not theirs)', async () => {
    const api = native() as unknown as { releaseFilePages(p: unknown): unknown; prefetchFilePages(p: unknown): Promise<number> };
    for (const bad of ['', '/', 'relative/dir', 42])
      for (const call of [() => api.releaseFilePages(bad), () => api.prefetchFilePages(bad)])
        expect(call, String(bad)).toThrow(expect.objectContaining({ hrsegCode: 'INVALID_ARGUMENT' }) as Error);
    expect(await api.prefetchFilePages(`${work}/nothing-mapped/`)).toBe(0);
  });
});
