import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSegmenter, type Segmenter, type SegmentEvent } from '../lib/segmenter.js';
import { DEMO_MANIFEST, DEMO_RECTS } from '../scripts/models/demo-package.js';
import { rectangleScene } from '../scripts/models/tiny-sam.js';
import { tinyDecoder } from '../scripts/models/tiny-vlm.js';
import { demoPackage, demoScene, maskIoU } from './helpers/demo.js';

const dir = demoPackage();
const scene = demoScene();
const raw = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
let seg: Segmenter;

beforeAll(async () => {
  seg = await createSegmenter({ model: dir, device: 'auto' });
});
afterAll(async () => {
  await seg?.dispose();
  rmSync(dirname(dir), { recursive: true, force: true });
});

const region = (name: string) => scene.regions.find((r) => r.name === name)!.mask;

describe('segment() on the demo model', () => {
  it('picks the region the instruction names, exactly', async () => {
    const prepared = await seg.prepare(raw);
    expect(prepared.proposals.masks.dims[0]).toBe(5); // four shapes and the background
    for (const [q, form, colour] of [
      ['the red shape', 'phrase', 'red'],
      ['Which shape is green?', 'sentence', 'green'],
      ['the blue one', 'phrase', 'blue'],
      ['Segment the yellow thing.', 'sentence', 'yellow'],
    ] as const) {
      const r = await seg.segment(prepared, q, { form });
      expect(r.answer).toBe('It is [SEG].');
      expect(r.segments).toHaveLength(1);
      expect(r.segments[0].fallback).toBe(false);
      expect(r.chosen).toHaveLength(1);
      expect(maskIoU(r.mask, region(colour)), `${q} → ${colour}`).toBe(1);
      expect(r.timings.reasoning).toBeGreaterThan(0);
      expect(r.timings.proposals).toBeUndefined(); // the prepared image's stages are not paid again
    }
  });

  it('prepare() reuse gives results identical to fresh calls', async () => {
    const prepared = await seg.prepare(raw);
    for (const q of ['the red shape', 'the green shape']) {
      const reused = await seg.segment(prepared, q);
      const fresh = await seg.segment(raw, q);
      expect(Buffer.compare(Buffer.from(reused.mask), Buffer.from(fresh.mask))).toBe(0);
      expect(reused.chosen).toEqual(fresh.chosen);
      expect(Array.from(reused.segments[0].similarity)).toEqual(Array.from(fresh.segments[0].similarity));
      expect(fresh.timings.proposals).toBeGreaterThan(0);
    }
  });

  it('reads images of several formats and sizes', async () => {
    const png = await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
      .png()
      .toBuffer();
    const webp = await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
      .webp({ lossless: true })
      .toBuffer();
    const jpeg = await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    const rgba = new Uint8Array(640 * 480 * 4);
    for (let p = 0; p < 640 * 480; p++) rgba.set([...scene.rgb.subarray(p * 3, p * 3 + 3), 255], p * 4);
    const path = join(dir, '..', 'scene.png');
    writeFileSync(path, png);
    for (const [what, input, minIoU] of [
      ['png path', path, 1],
      ['webp buffer', webp, 1],
      ['rgba pixels', { data: rgba, width: 640, height: 480, channels: 4 as const }, 1],
      ['jpeg buffer', jpeg, 0.97], // lossy: edges may move by a pixel
    ] as const) {
      const r = await seg.segment(input, 'the blue shape', { form: 'phrase' });
      expect(maskIoU(r.mask, region('blue')), what).toBeGreaterThanOrEqual(minIoU);
    }
    // Another size and aspect: 400×560 portrait; SAM's frame scale 1024/560, cells of 8.75 px, so edges on 35 px.
    const tall = rectangleScene(400, 560, [
      { name: 'magenta', colour: [210, 40, 200], x: 35, y: 70, w: 210, h: 175 },
      { name: 'cyan', colour: [20, 210, 220], x: 140, y: 315, w: 210, h: 210 },
    ]);
    const r = await seg.segment({ data: tall.rgb, width: 400, height: 560, channels: 3 }, 'the cyan shape', { form: 'phrase' });
    expect([r.width, r.height]).toEqual([400, 560]);
    expect(maskIoU(r.mask, tall.regions.find((x) => x.name === 'cyan')!.mask)).toBe(1);
  });

  it('streams events: prepared, tokens, scores, result', async () => {
    const events: SegmentEvent[] = [];
    for await (const e of seg.segmentStream(raw, 'the green shape', { form: 'phrase' })) events.push(e);
    expect(events.map((e) => e.type)).toEqual(['prepared', 'token', 'token', 'token', 'token', 'scores', 'result']);
    const tokens = events
      .filter((e) => e.type === 'token')
      .map((e) => (e as { text: string }).text)
      .join('');
    expect(tokens).toBe('It is [SEG].');
    const last = events.at(-1) as Extract<SegmentEvent, { type: 'result' }>;
    expect(maskIoU(last.result.mask, region('green'))).toBe(1);
  });

  it('concurrent calls are queued and each gets its own answer', async () => {
    const prepared = await seg.prepare(raw);
    const colours = ['red', 'green', 'blue', 'yellow'];
    const results = await Promise.all(colours.map((c) => seg.segment(prepared, `the ${c} shape`, { form: 'phrase' })));
    results.forEach((r, i) => expect(maskIoU(r.mask, region(colours[i]))).toBe(1));
  });

  it('a colour that is not there: the fallback is reported', async () => {
    const r = await seg.segment(raw, 'the orange shape', { form: 'phrase' });
    expect(r.segments[0].fallback).toBe(true);
    expect(r.chosen).toHaveLength(1);
  });

  it('bad input gives typed errors', async () => {
    await expect(seg.segment(raw, '  ')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /instruction is empty/ });
    await expect(seg.segment(new TextEncoder().encode('not an image'), 'the red shape')).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
    await expect(seg.segment('/nonexistent/x.png', 'the red shape')).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    const c = new AbortController();
    c.abort();
    await expect(seg.segment(raw, 'the red shape', { signal: c.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    const mid = new AbortController();
    const running = seg.prepare(raw, { signal: mid.signal, onProgress: (_s, done) => done >= 64 && mid.abort() });
    await expect(running).rejects.toMatchObject({ code: 'ABORTED' });
    // The segmenter still works afterwards.
    const ok = await seg.segment(raw, 'the red shape', { form: 'phrase' });
    expect(maskIoU(ok.mask, region('red'))).toBe(1);
  });

  it('a model that never answers [SEG] gives an empty mask and keeps the answer', async () => {
    const other = demoPackage();
    writeFileSync(join(other, 'vlm/decoder.onnx'), tinyDecoder({ emitSeg: false }));
    await using s = await createSegmenter({ model: other });
    const r = await s.segment(raw, 'the red shape');
    expect(r.answer).toBe('It is.');
    expect(r.segments).toEqual([]);
    expect(r.mask.every((v) => v === 0)).toBe(true);
    const p = await seg.prepare(raw);
    await expect(s.segment(p, 'the red shape')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /another segmenter/ });
    // Released: refused on any device (the CPU holds nothing on a GPU, but the contract is the same).
    const q = await seg.prepare(raw);
    expect((await seg.segment(q, 'the red shape')).chosen.length).toBeGreaterThan(0);
    q.release();
    await expect(seg.segment(q, 'the red shape')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /released/ });
    rmSync(dirname(other), { recursive: true, force: true });
  });

  it('dispose: later calls are refused; the device option is checked', async () => {
    const s = await createSegmenter({ model: dir, device: 'cpu' });
    await s.dispose();
    await expect(s.segment(raw, 'the red shape')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /disposed/ });
    await expect(createSegmenter({ model: dir, device: 'cuda' })).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    await expect(createSegmenter({ model: dir, device: 'gpu' as 'cpu' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('the llm-seg twin of the demo (preset llm-seg)', () => {
  const llmDir = demoPackage('llm-seg');
  let llm: Segmenter;
  beforeAll(async () => {
    llm = await createSegmenter({ model: llmDir, device: 'cpu' });
  });
  afterAll(async () => {
    await llm?.dispose();
    rmSync(dirname(llmDir), { recursive: true, force: true });
  });

  it('runs as LLM-Seg does: one DINOv2 view at 896, teacher-forced "[SEG].", iop-threshold', async () => {
    // Count what actually reaches the DINOv2 encoder.
    type Run = (f: Record<string, { dims: number[] }>, o?: unknown) => Promise<unknown>;
    const engines = (llm as unknown as { method: { engines: { component: string; run: Run }[] } }).method.engines;
    const dino = engines.find((e) => e.component === 'dino/encoder')!;
    const run = dino.run.bind(dino);
    const batches: number[][] = [];
    dino.run = (feeds, o) => {
      batches.push([...feeds.pixel_values.dims]);
      return run(feeds, o);
    };
    const prepared = await llm.prepare(raw);
    dino.run = run;
    expect(batches).toEqual([[1, 3, 896, 896]]);
    expect(prepared.dinoViews).toBe(1);
    expect(prepared.features!.region.dims).toEqual([0, 16]);
    expect(prepared.timings.dino).toBeGreaterThan(0);
    expect((await seg.prepare(raw)).dinoViews).toBe(5); // the hrseg preset: global + 2² crops
    for (const colour of ['red', 'green', 'blue', 'yellow']) {
      const r = await llm.segment(prepared, `the ${colour} shape`, { form: 'phrase' });
      expect(r.answer).toBe('[SEG].');
      expect(r.segments[0].fallback).toBe(false);
      expect(r.chosen).toHaveLength(1);
      expect(maskIoU(r.mask, region(colour)), colour).toBe(1);
    }
  });

  it('fallback none: when no proposal passes τ the mask is empty, chosen [] and fallback false', async () => {
    const r = await llm.segment(raw, 'the red shape', { form: 'phrase', selection: { tau: 0.99 } });
    expect(r.segments[0].chosen).toEqual([]);
    expect(r.segments[0].fallback).toBe(false);
    expect(r.chosen).toEqual([]);
    expect(r.mask.every((v) => v === 0)).toBe(true);
  });

  it('proposalMaxSide: SAM runs on an INTER_AREA shrink and the mask comes back at full size', async () => {
    const r = await llm.segment(raw, 'the blue shape', { form: 'phrase', proposalMaxSide: 320 });
    expect(r.proposals.masks.dims.slice(1)).toEqual([240, 320]);
    expect(r.lowRes && [r.lowRes.width, r.lowRes.height]).toEqual([320, 240]);
    expect(r.timings.downscale).toBeGreaterThan(0);
    expect([r.width, r.height]).toEqual([640, 480]);
    expect(maskIoU(r.mask, region('blue'))).toBe(1); // the scene's edges are even: exact after ×2
    await expect(llm.segment(raw, 'the blue shape', { proposalMaxSide: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('the demo package', () => {
  it('is deterministic and says it is not trained (and so is its llm-seg twin)', async () => {
    const a = demoPackage(),
      b = demoPackage();
    const c = demoPackage('llm-seg'),
      d = demoPackage('llm-seg');
    for (const f of ['hrseg.json', 'head.safetensors', 'dino/encoder.onnx'])
      expect(Buffer.compare(readFileSync(join(c, f)), readFileSync(join(d, f))), f).toBe(0);
    expect(JSON.parse(readFileSync(join(c, 'hrseg.json'), 'utf8'))).toMatchObject({ preset: 'llm-seg', trained: false });
    for (const x of [c, d]) rmSync(dirname(x), { recursive: true, force: true });
    for (const f of ['hrseg.json', 'head.safetensors', 'sam/decoder.onnx', 'dino/encoder.onnx', 'vlm/decoder.onnx', 'vlm/tokenizer.json'])
      expect(Buffer.compare(readFileSync(join(a, f)), readFileSync(join(b, f))), f).toBe(0);
    expect(DEMO_MANIFEST.trained).toBe(false);
    expect(DEMO_RECTS.map((r) => r.name)).toEqual(['red', 'green', 'blue', 'yellow']);
    rmSync(dirname(a), { recursive: true, force: true });
    rmSync(dirname(b), { recursive: true, force: true });
  });
});
