import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { OnnxEngine } from '../lib/engines/index.js';
import { loadImage } from '../lib/image.js';
import { generateProposals } from '../lib/proposals/index.js';
import { rectangleScene, tinySamDecoder, tinySamEncoder, type SyntheticScene } from '../scripts/models/tiny-sam.js';

const dir = mkdtempSync(join(tmpdir(), 'hrseg-sam-'));
let encoder: OnnxEngine, decoder: OnnxEngine;

beforeAll(async () => {
  writeFileSync(join(dir, 'encoder.onnx'), tinySamEncoder());
  writeFileSync(join(dir, 'decoder.onnx'), tinySamDecoder());
  encoder = await OnnxEngine.load(join(dir, 'encoder.onnx'), 'sam/encoder', { bindings: { S: 1024 } });
  decoder = await OnnxEngine.load(join(dir, 'decoder.onnx'), 'sam/decoder');
});
afterAll(async () => {
  await encoder?.dispose();
  await decoder?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function sameMask(a: Uint8Array, b: Uint8Array): number {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff += a[i] !== b[i] ? 1 : 0;
  return diff;
}

async function expectRegions(scene: SyntheticScene, pointsPerBatch: number) {
  const image = await loadImage({ data: scene.rgb, width: scene.width, height: scene.height, channels: 3 });
  const progress: number[] = [];
  const p = await generateProposals(image, { encoder, decoder }, { config: { pointsPerBatch }, onProgress: (d) => progress.push(d) });
  const { width: W, height: H } = scene;
  const K = scene.regions.length;
  expect(p.masks.dims).toEqual([K, H, W]);
  expect(progress.at(-1)).toBe(1024);
  // One proposal per colour region, largest first, each exactly its region.
  const expected = [...scene.regions].sort((a, b) => b.area - a.area);
  expected.forEach((region, k) => {
    const mask = p.masks.data.subarray(k * H * W, (k + 1) * H * W);
    expect(sameMask(mask, region.mask), `proposal ${k} should be ${region.name}`).toBe(0);
    expect(p.areas.data[k]).toBe(region.area);
    expect(p.iou.data[k]).toBeCloseTo(0.95, 6);
    expect(p.stability.data[k]).toBeGreaterThanOrEqual(0.95);
    expect(p.source.data[k] % 3).toBe(0); // mask 0 of its prompt; 1 fails stability, 2 fails IoU
  });
  expect(p.counts.evaluated).toBe(3072);
  expect(p.counts.passedIou).toBe(2048);
  expect(p.counts.passedStability).toBe(1024);
  expect(p.counts.afterNms).toBe(K);
}

describe('SAM automatic mask generator on the tiny SAM', () => {
  it('finds exactly the colour regions of a 1024×768 scene', async () => {
    const scene = rectangleScene(1024, 768, [
      { name: 'red', colour: [220, 30, 30], x: 64, y: 96, w: 320, h: 256 },
      { name: 'green', colour: [30, 200, 40], x: 512, y: 64, w: 400, h: 160 },
      { name: 'blue', colour: [40, 50, 220], x: 480, y: 400, w: 192, h: 288 },
    ]);
    await expectRegions(scene, 64);
  });

  it('finds them in a smaller, portrait image (resized ×2 into the frame), with another batch size', async () => {
    const scene = rectangleScene(320, 512, [
      { name: 'yellow', colour: [230, 220, 40], x: 16, y: 24, w: 96, h: 64 },
      { name: 'cyan', colour: [20, 210, 220], x: 160, y: 200, w: 136, h: 240 },
    ]);
    await expectRegions(scene, 100);
  });

  it('stops on abort between decoder batches', async () => {
    const scene = rectangleScene(64, 64, [{ name: 'red', colour: [220, 30, 30], x: 8, y: 8, w: 32, h: 32 }]);
    const image = await loadImage({ data: scene.rgb, width: 64, height: 64, channels: 3 });
    const controller = new AbortController();
    const run = generateProposals(
      image,
      { encoder, decoder },
      {
        signal: controller.signal,
        onProgress: (done) => done >= 128 && controller.abort(),
      },
    );
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
