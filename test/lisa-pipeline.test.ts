/**
 * The lisa preset in the runtime on the demo's lisa twin (scripts/models/tiny-lisa.ts: LISA's
 * decoder outlines the colour the [SEG] state names): masks by construction, what a lisa package
 * must and need not hold, what the preset refuses, its TensorRT engine list, and the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { evaluate, readResults } from '../lib/eval/evaluate.js';
import { createSegmenter, type Segmenter } from '../lib/index.js';
import { readPackage } from '../lib/package/manifest.js';
import { serve } from '../lib/serve/server.js';
import { engineSpecs } from '../lib/trt/specs.js';
import { demoPackage, demoScene, maskIoU } from './helpers/demo.js';
import { maskOf, parseSse } from './helpers/serve.js';

const run = promisify(execFile);
const model = demoPackage('lisa');
const scene = demoScene();
const image = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
const region = (name: string) => scene.regions.find((r) => r.name === name)!.mask;
let seg: Segmenter;

beforeAll(async () => {
  seg = await createSegmenter({ model, device: 'cpu' });
});
afterAll(async () => {
  await seg?.dispose();
  rmSync(dirname(model), { recursive: true, force: true });
});

describe('the lisa preset on the demo twin', () => {
  it('each instruction gets exactly the region of the colour it names, from one [SEG]', async () => {
    const prepared = await seg.prepare(image);
    expect(prepared.timings.sam).toBeGreaterThan(0);
    expect(prepared.timings.proposals).toBeUndefined();
    for (const colour of ['red', 'green', 'blue', 'yellow']) {
      const r = await seg.segment(prepared, `the ${colour} shape`, { form: 'phrase' });
      expect(r.answer).toBe('It is [SEG].');
      expect(r.segments).toHaveLength(1);
      expect(maskIoU(r.mask, region(colour))).toBe(1);
      // The logits are what the mask was thresholded from.
      expect(r.segments[0].logits!.every((v, i) => (v > 0 ? 1 : 0) === r.mask[i])).toBe(true);
      expect(r.timings.masks).toBeGreaterThan(0);
    }
    prepared.release();
  });

  it('uses the chat form (the instruction as typed) and generates by default; teacher-forced answers "[SEG]."', async () => {
    const r = await seg.segment(image, 'the green one');
    expect(r.answer).toBe('It is [SEG].');
    expect(maskIoU(r.mask, region('green'))).toBe(1);
    const forced = await seg.segment(image, 'the blue shape', { mode: 'teacher-forced', form: 'sentence' });
    expect(forced.answer).toBe('[SEG].');
    expect(maskIoU(forced.mask, region('blue'))).toBe(1);
  });

  it('an instruction naming no colour gets an empty mask (the decoder finds nothing), not a wrong one', async () => {
    const r = await seg.segment(image, 'the thing on the left');
    expect(r.segments).toHaveLength(1);
    expect(r.mask.some((v) => v !== 0)).toBe(false);
  });

  it('refuses proposalMaxSide (there are no proposals) with INVALID_ARGUMENT', async () => {
    await expect(seg.segment(image, 'the red shape', { proposalMaxSide: 512 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /no proposals/ });
    await expect(createSegmenter({ model, device: 'cpu', proposalMaxSide: 512 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('evaluating the lisa preset', () => {
  const work = mkdtempSync(join(tmpdir(), 'hrseg-lisa-eval-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('teacher-forces "[SEG]." as LISA\'s evaluator does (the package\'s evalMode), and scores the masks', async () => {
    const file = join(work, 'shapes.png');
    writeFileSync(file, readFileSync(join(import.meta.dirname, '../examples/shapes.png')));
    const samples = ['red', 'yellow'].map((colour, i) => ({
      id: `shapes.png#${i}`,
      image: file,
      instruction: `the ${colour} shape`,
      isSentence: false,
      groundTruth: async () => ({ mask: region(colour), width: scene.width, height: scene.height }),
    }));
    const resultsFile = join(work, 'results.jsonl');
    const score = await evaluate(seg, samples, { resultsFile });
    expect(score).toMatchObject({ samples: 2, gIoU: 1, cIoU: 1, skipped: 0 });
    expect((await readResults(resultsFile)).map((r) => r.answer)).toEqual(['[SEG].', '[SEG].']);
  });
});

describe('a lisa package', () => {
  const work = mkdtempSync(join(tmpdir(), 'hrseg-lisa-pkg-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('needs no DINOv2 or point decoder, and names its prompt decoder when that is missing', async () => {
    const pkg = await readPackage(model);
    expect(pkg.preset).toBe('lisa');
    const copy = join(work, 'no-decoder');
    await run('cp', ['-r', model, copy]);
    rmSync(join(copy, 'sam/prompt-decoder.onnx'));
    await expect(readPackage(copy)).rejects.toMatchObject({
      code: 'MODEL_FILE',
      message: /sam\/prompt-decoder\.onnx \(\/files\/samPromptDecoder\) is missing/,
    });
  });

  it('refuses a text_hidden_fcs that does not give the decoder its 256-wide prompts, naming the file', async () => {
    const copy = join(work, 'wrong-head');
    await run('cp', ['-r', model, copy]);
    const other = demoPackage('hrseg'); // its head holds a text projection to d 16 from H: a different layout
    writeFileSync(join(copy, 'head.safetensors'), readFileSync(join(other, 'head.safetensors')));
    rmSync(dirname(other), { recursive: true, force: true });
    await expect(createSegmenter({ model: copy, device: 'cpu' })).rejects.toMatchObject({
      code: 'MODEL_FILE',
      message: /head\.safetensors: text_hidden_fcs gives 16-wide prompts, but LISA's SAM decoder takes 256-wide ones/,
    });
  });

  it('build-engines builds its four engines, the prompt decoder for 1 … 16 [SEG]s', async () => {
    const specs = await engineSpecs(await readPackage(model));
    expect(specs.map((s) => s.component)).toEqual(['sam/encoder', 'sam/prompt-decoder', 'vlm/vision', 'vlm/decoder']);
    const prompt = specs[1].profiles[0].find((p) => p.name === 'sparse_embeddings')!;
    expect([prompt.min, prompt.max]).toEqual([
      [1, 1, 256],
      [16, 1, 256],
    ]);
    expect(specs[1].source).toBe('sam/prompt-decoder.onnx');
  });

  it('hrseg info and hrseg segment work on it', async () => {
    const cli = join(import.meta.dirname, '../dist/cli.js');
    const info = await run(process.execPath, [cli, 'info', '--model', model]);
    expect(info.stdout).toMatch(/preset: lisa/);
    expect(info.stdout).toMatch(/LISA's SAM decoder prompted by each \[SEG\]/);
    expect(info.stdout).toMatch(/vlm: generate, chat prompts, up to 16 tokens; eval teacher-forced/);
    const out = join(work, 'mask.png');
    const r = await run(process.execPath, [
      cli,
      'segment',
      join(import.meta.dirname, '../examples/shapes.png'),
      'the yellow shape',
      '--model',
      model,
      '--form',
      'phrase',
      '--out',
      out,
      '--json',
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ answer: 'It is [SEG].' });
  });
});

describe('hrseg serve on a lisa package', () => {
  it('prepares without proposals and streams the answer and its [SEG] mask', async () => {
    const server = await serve({ model, device: 'cpu', port: 0 });
    try {
      const info = (await (await fetch(new URL('/api/info', server.url))).json()) as { model: { preset: string } };
      expect(info.model.preset).toBe('lisa');
      const upload = await fetch(new URL('/api/images', server.url), {
        method: 'POST',
        // hrseg serve takes uploads as image/* or application/octet-stream only (docs/serving.md).
        headers: { 'content-type': 'image/png' },
        body: readFileSync(join(import.meta.dirname, '../examples/shapes.png')),
      });
      const up = (await upload.json()) as { id: string; width: number; height: number; proposals: number; timings: Record<string, number> };
      expect(up).toMatchObject({ width: 640, height: 480, proposals: 0 });
      expect(up.timings.sam).toBeGreaterThan(0);
      const r = await fetch(new URL(`/api/images/${up.id}/segment`, server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instruction: 'the blue shape', form: 'phrase', outlines: true }),
      });
      const result = parseSse(await r.text()).find((e) => e.event === 'result')!.data;
      expect(result.answer).toBe('It is [SEG].');
      expect(maskIoU((await maskOf(result.mask)).mask, region('blue'))).toBe(1);
    } finally {
      await server.close();
    }
  });
});
