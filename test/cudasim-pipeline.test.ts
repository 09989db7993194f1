/**
 * The whole pipeline with device 'cuda' on the simulated GPU (README "The simulated GPU"): the
 * addon built against native/cudasim (build/cudasim/hrseg_cudasim.node) runs HeadCuda and
 * MaskGeneratorCuda through the same binding, and must give what 'cpu' gives on the same addon:
 * the same proposals, the same chosen proposals and masks, similarities to float rounding, for the
 * hrseg and llm-seg presets; and out of device memory, the typed error and nothing lost. CI
 * requires that addon (HRSEG_REQUIRE_CUDASIM=1); elsewhere the test skips with the reason when it
 * has not been built.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rectangleScene } from '../scripts/models/tiny-sam.js';
import { demoPackage } from './helpers/demo.js';

const addon = join(import.meta.dirname, '../build/cudasim/hrseg_cudasim.node');
const required = process.env.HRSEG_REQUIRE_CUDASIM === '1';
const present = existsSync(addon);
// Set before the first import of the library in this worker (each test file has its own process):
// lib/native.ts loads this binding. Restored at the end all the same.
const before = process.env.HRSEG_NATIVE_ADDON;
process.env.HRSEG_NATIVE_ADDON = addon;
afterAll(() => {
  if (before === undefined) delete process.env.HRSEG_NATIVE_ADDON;
  else process.env.HRSEG_NATIVE_ADDON = before;
});

// A small scene whose edges fall on SAM's 16-pixel cells (scale 1024/160 = 6.4: 10-pixel steps),
// and 4² prompts, which land on every rectangle: the simulated GPU runs one CPU core per block.
const rects = [
  { name: 'red', colour: [220, 30, 30] as [number, number, number], x: 10, y: 10, w: 50, h: 40 },
  { name: 'green', colour: [30, 200, 40] as [number, number, number], x: 80, y: 20, w: 70, h: 30 },
  { name: 'blue', colour: [40, 50, 220] as [number, number, number], x: 20, y: 70, w: 50, h: 40 },
  { name: 'yellow', colour: [230, 220, 40] as [number, number, number], x: 90, y: 70, w: 50, h: 40 },
];
const scene = rectangleScene(160, 120, rects);
const image = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };

function smallPackage(variant: 'hrseg' | 'llm-seg'): string {
  const dir = demoPackage(variant);
  const file = join(dir, 'hrseg.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  m.proposals = { ...m.proposals, pointsPerSide: 4 };
  writeFileSync(file, JSON.stringify(m));
  return dir;
}

describe.skipIf(!present && !required)(`the pipeline on the simulated GPU${present ? '' : ` (skipped: ${addon} not built; npm run native builds it)`}`, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(dirname(d), { recursive: true, force: true });
  });
  beforeAll(() => {
    if (!present) throw new Error(`HRSEG_REQUIRE_CUDASIM=1 but ${addon} was not built`);
  });

  it('the binding is the simulated one: CUDA available, a simulated H100', async () => {
    const { runtimeInfo } = await import('../lib/runtime.js');
    const info = runtimeInfo();
    expect(info.binary).toBe(addon);
    expect(info.build.cuda).toBe(true);
    expect(info.cuda.available).toBe(true);
    expect(info.cuda.devices[0].name).toMatch(/cudasim/);
  });

  for (const variant of ['hrseg', 'llm-seg'] as const)
    it(`${variant}: device 'cuda' gives the CPU's proposals, choices and masks`, async () => {
      const { createSegmenter } = await import('../lib/segmenter.js');
      const model = smallPackage(variant);
      dirs.push(model);
      const cpu = await createSegmenter({ model, device: 'cpu' });
      const gpu = await createSegmenter({ model, device: 'cuda' });
      try {
        expect(gpu.device).toBe('cuda');
        const [pc, pg] = [await cpu.prepare(image), await gpu.prepare(image)];
        expect(pg.proposals.masks.dims).toEqual(pc.proposals.masks.dims);
        expect(pg.proposals.masks.dims[0]).toBeGreaterThanOrEqual(4);
        expect(Buffer.compare(Buffer.from(pg.proposals.masks.data), Buffer.from(pc.proposals.masks.data))).toBe(0);
        for (const { name } of rects) {
          const [a, b] = [await cpu.segment(pc, `the ${name} shape`, { form: 'phrase' }), await gpu.segment(pg, `the ${name} shape`, { form: 'phrase' })];
          expect(b.chosen).toEqual(a.chosen);
          expect(b.chosen.length).toBeGreaterThan(0);
          expect(Buffer.compare(Buffer.from(b.mask), Buffer.from(a.mask))).toBe(0);
          const sa = a.segments[0].similarity,
            sb = b.segments[0].similarity;
          for (let k = 0; k < sa.length; k++) expect(Math.abs(sb[k] - sa[k])).toBeLessThan(1e-4);
        }
        pc.release();
        pg.release();
      } finally {
        await Promise.all([cpu.dispose(), gpu.dispose()]);
      }
    }, 600_000);

  it("a CUDA head's image state is freed by releaseImage, and its instruction step refused after that", async () => {
    const { Head } = await import('../lib/head.js');
    const { tensor } = await import('../lib/tensor.js');
    const model = smallPackage('hrseg');
    dirs.push(model);
    const manifest = JSON.parse(readFileSync(join(model, 'hrseg.json'), 'utf8'));
    const head = await Head.load(join(model, 'head.safetensors'), manifest.head, { device: 'cuda' });
    try {
      const { globalGrid: g, magnification: n, featureDim: c, hiddenSize } = head.config;
      const random = (count: number) => Float32Array.from({ length: count }, () => Math.random() - 0.5);
      const proposals = tensor(
        'uint8',
        [3, 9, 11],
        Uint8Array.from({ length: 3 * 9 * 11 }, (_, i) => (i % 4 === 0 ? 1 : 0)),
      );
      const image = await head.imageStep({
        globalFeatures: tensor('float32', [g * g, c], random(g * g * c)),
        localFeatures: tensor('float32', [(n * g) ** 2, c], random((n * g) ** 2 * c)),
        proposals,
      });
      const hSeg = tensor('float32', [hiddenSize], random(hiddenSize));
      const first = await head.instructionStep(image, hSeg);
      expect(first.similarity.dims).toEqual([1, 3]);
      head.releaseImage(image);
      await expect(head.instructionStep(image, hSeg)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/released/) });
      head.releaseImage(image); // again: nothing left to free
    } finally {
      head.dispose();
    }
  });

  it('out of device memory: OUT_OF_MEMORY naming it, and with the memory back the same calls give the same results', async () => {
    const { createSegmenter } = await import('../lib/segmenter.js');
    const model = smallPackage('hrseg');
    dirs.push(model);
    // The simulator reads CUDASIM_DEVICE_MEMORY at every cudaMalloc: a device of 1 byte. The pool
    // hands out cached blocks without asking the driver, so each call below that must fail needs
    // memory nothing has cached: the head's weights (the tests before disposed their segmenters,
    // and the pool gave its cache back when the last of them went), a larger image than any before,
    // and then, the pool having given its cache back when that failed, the instruction step.
    const outOfMemory = { name: 'HrsegError', code: 'OUT_OF_MEMORY', message: expect.stringMatching(/cudaMalloc.*out of memory/) };
    const starve = async (call: () => Promise<unknown>) => {
      process.env.CUDASIM_DEVICE_MEMORY = '1';
      try {
        await expect(call()).rejects.toMatchObject(outOfMemory);
      } finally {
        delete process.env.CUDASIM_DEVICE_MEMORY;
      }
    };
    await starve(() => createSegmenter({ model, device: 'cuda' }));
    const gpu = await createSegmenter({ model, device: 'cuda' });
    try {
      const prepared = await gpu.prepare(image);
      const want = await gpu.segment(prepared, 'the green shape', { form: 'phrase' });
      const double = (r: (typeof rects)[number]) => ({ ...r, x: 2 * r.x, y: 2 * r.y, w: 2 * r.w, h: 2 * r.h });
      const large = rectangleScene(320, 240, rects.map(double));
      const largeImage = { data: large.rgb, width: large.width, height: large.height, channels: 3 as const };
      await starve(async () => {
        await expect(gpu.prepare(largeImage)).rejects.toMatchObject(outOfMemory);
        return gpu.segment(prepared, 'the green shape', { form: 'phrase' });
      });
      const again = await gpu.prepare(image);
      expect(Buffer.compare(Buffer.from(again.proposals.masks.data), Buffer.from(prepared.proposals.masks.data))).toBe(0);
      for (const p of [prepared, again]) {
        const got = await gpu.segment(p, 'the green shape', { form: 'phrase' });
        expect(got.chosen).toEqual(want.chosen);
        expect(Buffer.compare(Buffer.from(got.mask), Buffer.from(want.mask))).toBe(0);
      }
      prepared.release();
      again.release();
      // Released: the head's state on the device is gone, and segmenting the image is refused.
      await expect(gpu.segment(prepared, 'the green shape', { form: 'phrase' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await gpu.dispose();
    }
  }, 600_000);
});
