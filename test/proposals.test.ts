import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { randomCheckpoint } from '../lib/convert/random.js';
import { buildSamDecoder } from '../lib/convert/sam-decoder.js';
import { OnnxEngine } from '../lib/engines/index.js';
import type { Engine } from '../lib/engines/types.js';
import { loadImage } from '../lib/image.js';
import { generateProposals } from '../lib/proposals/index.js';
import { tensor } from '../lib/tensor.js';
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
  const t0 = performance.now();
  const p = await generateProposals(image, { encoder, decoder }, { config: { pointsPerBatch }, onProgress: (d) => progress.push(d) });
  const elapsed = performance.now() - t0;
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
  // Where the time went: every part ran, and together they are within the call.
  const t = p.timings!;
  expect(t.encoder).toBeGreaterThan(0);
  expect(t.decoder).toBeGreaterThan(0);
  expect(t.postProcessing).toBeGreaterThan(0);
  expect(t.encoder + t.decoder + t.postProcessing).toBeLessThanOrEqual(elapsed);
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

describe("the decoder's preferred batch (ONNX Runtime on the CPU)", () => {
  it('splits the prompts into batches of preferredBatch, with the proposals of pointsPerBatch', async () => {
    const small = await OnnxEngine.load(join(dir, 'decoder.onnx'), 'sam/decoder', { cpuBatch: 7 });
    try {
      expect(small.preferredBatch).toBe(7);
      const batches: number[] = [];
      const counting: Engine = Object.assign(Object.create(small) as Engine, {
        run: (feeds: Parameters<Engine['run']>[0], options?: Parameters<Engine['run']>[1]) => {
          batches.push((feeds.point_coords as { dims: readonly number[] }).dims[0]);
          return small.run(feeds, options);
        },
      });
      const scene = rectangleScene(256, 192, [{ name: 'red', colour: [220, 30, 30], x: 32, y: 40, w: 96, h: 64 }]);
      const image = await loadImage({ data: scene.rgb, width: scene.width, height: scene.height, channels: 3 });
      const a = await generateProposals(image, { encoder, decoder: counting }, { config: { pointsPerBatch: 64 } });
      const b = await generateProposals(image, { encoder, decoder }, { config: { pointsPerBatch: 64 } });
      expect(batches.length).toBe(Math.ceil(1024 / 7));
      expect(Math.max(...batches)).toBe(7);
      expect(a.masks.data).toEqual(b.masks.data);
      expect(a.iou.data).toEqual(b.iou.data);
      expect(a.source.data).toEqual(b.source.data);
    } finally {
      await small.dispose();
    }
  });

  it('a converted SAM decoder (real widths) gives each prompt the same bits in a batch of 1, 3 or 8', async () => {
    const { graph } = buildSamDecoder(randomCheckpoint('sam-vit-b'), { grid: 64 });
    writeFileSync(join(dir, 'real-decoder.onnx'), graph.encode());
    const real = await OnnxEngine.load(join(dir, 'real-decoder.onnx'), 'sam/decoder', { intraOpThreads: 2 });
    try {
      const emb = tensor(
        'float32',
        [1, 256, 64, 64],
        Float32Array.from({ length: 256 * 4096 }, (_, i) => Math.sin(i * 0.37)),
      );
      const coords = Float32Array.from({ length: 16 }, (_, i) => (i * 131) % 1024);
      const run = async (from: number, to: number) => {
        const out = await real.run({
          image_embeddings: emb,
          point_coords: tensor('float32', [to - from, 1, 2], coords.slice(from * 2, to * 2)),
          point_labels: tensor('float32', [to - from, 1], new Float32Array(to - from).fill(1)),
        });
        return [(await out.low_res_masks.host()).data as Float32Array, (await out.iou_predictions.host()).data as Float32Array];
      };
      const [all, allIou] = await run(0, 8);
      const parts = [await run(0, 1), await run(1, 4), await run(4, 8)];
      expect(Float32Array.from(parts.flatMap(([m]) => [...m]))).toEqual(all);
      expect(Float32Array.from(parts.flatMap(([, i]) => [...i]))).toEqual(allIou);
    } finally {
      await real.dispose();
    }
  }, 60_000);
});
