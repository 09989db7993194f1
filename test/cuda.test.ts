/**
 * device: 'cuda' from JavaScript. Without a usable GPU these check the typed refusal; with one,
 * the GPU pipeline against the CPU pipeline on the demo model (skipped here, with the reason).
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { Head } from '../lib/head.js';
import { MaskPostProcessor } from '../lib/proposals/index.js';
import { runtimeInfo } from '../lib/runtime.js';
import { createSegmenter } from '../lib/segmenter.js';
import { demoPackage, demoScene, maskIoU } from './helpers/demo.js';

const info = runtimeInfo();
const gpu = info.build.cuda && info.cuda.available;
const why = !info.build.cuda ? 'built without CUDA' : (info.cuda.reason ?? 'no CUDA device');
const model = demoPackage();
afterAll(() => rmSync(dirname(model), { recursive: true, force: true }));

describe.skipIf(gpu)(`without a GPU (${why})`, () => {
  it('device "cuda" is refused with the reason, everywhere', async () => {
    await expect(
      Head.load(`${model}/head.safetensors`, { featureDim: 16, dim: 16, hiddenSize: 48, fusionMlpDim: 32, iopHidden: 16, embedHidden: 16 }, { device: 'cuda' }),
    ).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
      message: expect.stringContaining(why),
    });
    expect(() => new MaskPostProcessor({}, { low: 8, frame: 32, height: 4, width: 4 }, { device: 'cuda' })).toThrow(
      expect.objectContaining({ code: 'DEVICE_UNAVAILABLE' }),
    );
    await expect(createSegmenter({ model, device: 'cuda' })).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    const auto = await createSegmenter({ model, device: 'auto' });
    expect(auto.device).toBe('cpu');
    await auto.dispose();
  });
});

describe.skipIf(!gpu)(`on the GPU${gpu ? '' : ` (skipped: ${why})`}`, () => {
  it('the CUDA pipeline picks the same regions as the CPU pipeline', async () => {
    const scene = demoScene();
    const image = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
    const cpu = await createSegmenter({ model, device: 'cpu' });
    const cuda = await createSegmenter({ model, device: 'cuda' });
    expect(cuda.device).toBe('cuda');
    for (const q of ['the red shape', 'the blue shape']) {
      const a = await cpu.segment(image, q, { form: 'phrase' });
      const b = await cuda.segment(image, q, { form: 'phrase' });
      expect(b.chosen).toEqual(a.chosen);
      expect(maskIoU(b.mask, a.mask)).toBe(1);
      for (let k = 0; k < a.segments[0].similarity.length; k++) expect(b.segments[0].similarity[k]).toBeCloseTo(a.segments[0].similarity[k], 5);
    }
    await cpu.dispose();
    await cuda.dispose();
  });
});
