/**
 * The DINOv2 graph builder against the official code's own outputs (golden data written by
 * scripts/fixtures/make_dinov2_golden.py running facebookresearch/dinov2 on torch 1.13): tiny
 * random models in the official and Hugging Face key layouts, with and without registers, at view
 * sizes that keep (56) and resample (70, 98) the position table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { buildDinov2, dinoArch } from '../lib/convert/dinov2.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';
import { dinov2Reference } from './reference/vit-reference.js';

const FIX = join(import.meta.dirname, 'fixtures/dinov2');
const meta = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8')) as {
  commit: string;
  torch: string;
  cases: { model: string; size: number; input: string; inputShape: number[]; output: string; outputShape: number[] }[];
};
const f32 = (file: string) => {
  const b = readFileSync(join(FIX, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

async function run(checkpoint: string, size: number, input: Float32Array, shape: number[], interpolateOffset?: boolean, fusedAttention?: boolean) {
  const ck = openCheckpoint(join(FIX, checkpoint));
  try {
    const { graph, tokens } = buildDinov2(ck, { viewSize: size, interpolateOffset, fusedAttention });
    const session = await ort.InferenceSession.create(graph.encode(17));
    const out = await session.run({ pixel_values: new ort.Tensor('float32', input, shape) });
    await session.release();
    expect(out.patch_tokens.dims[1]).toBe(tokens);
    return out.patch_tokens.data as Float32Array;
  } finally {
    ck.close();
  }
}

describe(`DINOv2 graphs equal facebookresearch/dinov2@${meta.commit.slice(0, 8)} (torch ${meta.torch})`, () => {
  for (const c of meta.cases) {
    it(`${c.model} at ${c.size}² (official keys)`, async () => {
      const got = await run(`${c.model}.pth`, c.size, f32(c.input), c.inputShape);
      const err = relError(got, f32(c.output));
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
    });
  }
  for (const c of meta.cases.filter((x) => x.model === 'vit-tiny-reg')) {
    it(`${c.model} at ${c.size}² from Hugging Face key names (safetensors)`, async () => {
      const got = await run(`${c.model}-hf.safetensors`, c.size, f32(c.input), c.inputShape);
      expect(relError(got, f32(c.output))).toBeLessThan(1e-4);
    });
  }

  for (const c of meta.cases)
    it(`${c.model} at ${c.size}² with ONNX Runtime's fused attention (--quantize-vision's CPU-only graphs)`, async () => {
      const got = await run(`${c.model}.pth`, c.size, f32(c.input), c.inputShape, undefined, true);
      const err = relError(got, f32(c.output));
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
    });

  it('equals an independent float64 reference on fresh random images (56² and a resampled 70²)', async () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const ck = openCheckpoint(join(FIX, 'vit-tiny.pth'));
    for (const D of [56, 70]) {
      const image = uniform(rng, 3 * D * D, 2);
      const got = await run('vit-tiny.pth', D, image, [1, 3, D, D]);
      const err = relError(got, dinov2Reference(ck, image, D, 2));
      expect(err, `${D}²: relative error ${err} (seed ${seed})`).toBeLessThan(1e-4);
    }
    ck.close();
  });

  it("the fixtures tell the two resamplings apart: the other model kind's rule misses by ~1e-2", async () => {
    for (const c of meta.cases.filter((x) => x.size !== 56)) {
      const wrong = await run(`${c.model}.pth`, c.size, f32(c.input), c.inputShape, c.model === 'vit-tiny-reg');
      expect(relError(wrong, f32(c.output)), `${c.model} ${c.size}`).toBeGreaterThan(1e-3);
    }
  });

  it('reads the architecture from the weights', () => {
    const a = openCheckpoint(join(FIX, 'vit-tiny.pth'));
    expect(dinoArch(a)).toMatchObject({ naming: 'official', dim: 128, depth: 2, heads: 2, registers: 0, patch: 14, grid: 4, mlp: 'gelu', layerScale: true });
    a.close();
    const b = openCheckpoint(join(FIX, 'vit-tiny-reg-hf.safetensors'));
    expect(dinoArch(b)).toMatchObject({ naming: 'hf', dim: 64, depth: 1, heads: 1, registers: 4 });
    expect(() => buildDinov2(b, { viewSize: 60 })).toThrow(/not a multiple of the patch size 14/);
    b.close();
  });
});
