/**
 * fp16 / bf16 variants of float32 graphs (lib/onnx/typed.ts): the rounding of weights, and the
 * variants of the converted SAM and DINOv2 graphs and the demo's tiny models against their float32
 * originals on onnxruntime-node. ONNX Runtime's CPU provider has no bf16 kernels: bf16 variants are
 * checked to pass ONNX type checking (ORT stops only at finding no CPU kernel) and to hold exactly
 * the bf16-rounded weights.
 */
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { halfToFloat } from '../lib/checkpoint/dtype.js';
import { openCheckpoint } from '../lib/checkpoint/index.js';
import { buildDinov2 } from '../lib/convert/dinov2.js';
import { buildSamDecoder } from '../lib/convert/sam-decoder.js';
import { buildSamEncoder } from '../lib/convert/sam-encoder.js';
import { GraphBuilder } from '../lib/onnx/graph.js';
import { floatToBf16, floatToHalf, typedGraph } from '../lib/onnx/typed.js';
import { tinyDinoEncoder } from '../scripts/models/tiny-dino.js';
import { tinyVision } from '../scripts/models/tiny-vlm.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';

const FIX = join(import.meta.dirname, 'fixtures');
const seed = freshSeed();
const rng = makeRng(seed);

async function runBoth(g: GraphBuilder, feeds: Record<string, ort.Tensor>, output: string): Promise<number> {
  const a = await ort.InferenceSession.create(g.encode(17));
  const b = await ort.InferenceSession.create(typedGraph(g, 'fp16').encode(17));
  const ya = (await a.run(feeds))[output],
    yb = (await b.run(feeds))[output];
  await Promise.all([a.release(), b.release()]);
  expect(yb.type).toBe('float32'); // the interface stays float32
  return relError(yb.data as Float32Array, ya.data as Float32Array);
}

describe('weight rounding', () => {
  it('float → half and bfloat16 round to nearest even, keep signs, infinities and NaN', () => {
    expect([1, -2, 65504, 1e6, -1e-9, 2 ** -24, 0.1].map(floatToHalf)).toEqual([0x3c00, 0xc000, 0x7bff, 0x7c00, 0x8000, 0x0001, 0x2e66]);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie: to even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
    expect([1, -3, 3.140625, Infinity].map(floatToBf16)).toEqual([0x3f80, 0xc040, 0x4049, 0x7f80]);
    expect(floatToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie to even
    expect(floatToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    // Nearest: no representable half lies closer than the chosen one, on random values.
    for (let i = 0; i < 2000; i++) {
      const x = Math.fround((rng() * 2 - 1) * 2 ** Math.floor(rng() * 30 - 14));
      const h = floatToHalf(x),
        v = halfToFloat(h);
      for (const n of [h - 1, h + 1]) if ((n & 0x7c00) !== 0x7c00) expect(Math.abs(x - v)).toBeLessThanOrEqual(Math.abs(x - halfToFloat(n & 0xffff)));
    }
  });
});

describe(`fp16 variants on onnxruntime-node agree with float32 (seed ${seed})`, () => {
  it('converted DINOv2 (no registers, 70²), within 1e-2', async () => {
    const ck = openCheckpoint(join(FIX, 'dinov2/vit-tiny.pth'));
    const err = await runBoth(
      buildDinov2(ck, { viewSize: 70 }).graph,
      { pixel_values: new ort.Tensor('float32', uniform(rng, 2 * 3 * 70 * 70, 2), [2, 3, 70, 70]) },
      'patch_tokens',
    );
    ck.close();
    expect(err).toBeLessThan(1e-2);
  });

  it('converted SAM encoder and decoder, within 1e-2', async () => {
    const ck = openCheckpoint(join(FIX, 'sam/sam-tiny.pth'));
    const e1 = await runBoth(
      buildSamEncoder(ck).graph,
      { image: new ort.Tensor('float32', uniform(rng, 3 * 128 * 128, 2), [1, 3, 128, 128]) },
      'image_embeddings',
    );
    const B = 4;
    const feeds = {
      image_embeddings: new ort.Tensor('float32', uniform(rng, 32 * 64, 1.5), [1, 32, 8, 8]),
      point_coords: new ort.Tensor(
        'float32',
        uniform(rng, 2 * B, 64).map((v) => v + 64),
        [B, 1, 2],
      ),
      point_labels: new ort.Tensor('float32', Float32Array.from([1, 1, 0, -1]), [B, 1]),
    };
    const e2 = await runBoth(buildSamDecoder(ck, { grid: 8 }).graph, feeds, 'low_res_masks');
    const e3 = await runBoth(buildSamDecoder(ck, { grid: 8 }).graph, feeds, 'iou_predictions');
    ck.close();
    expect(e1).toBeLessThan(1e-2);
    expect(e2).toBeLessThan(1e-2);
    expect(e3).toBeLessThan(1e-2);
  });

  it("any package ONNX file: the demo's tiny CLIP tower and tiny DINOv2, decoded and rewritten", async () => {
    const vision = GraphBuilder.decode(tinyVision());
    const e1 = await runBoth(vision, { pixel_values: new ort.Tensor('float32', uniform(rng, 3 * 224 * 224, 2), [1, 3, 224, 224]) }, 'image_embeds');
    expect(e1).toBeLessThan(1e-2);
    // The tiny DINOv2 is a softmax over −distance²/0.05 (sharp by design): fp16's rounding of the
    // distances moves its memberships by a few percent, which is what fp16 does to such a model.
    const dino = GraphBuilder.decode(tinyDinoEncoder(16));
    const e2 = await runBoth(dino, { pixel_values: new ort.Tensor('float32', uniform(rng, 3 * 518 * 518, 2), [1, 3, 518, 518]) }, 'patch_tokens');
    expect(e2).toBeLessThan(0.1);
  });
});

describe('bf16 variants', () => {
  it('type-check in ONNX (ORT stops only at the missing CPU kernels) and hold the bf16-rounded weights', async () => {
    const ck = openCheckpoint(join(FIX, 'dinov2/vit-tiny.pth'));
    const g = buildDinov2(ck, { viewSize: 56 }).graph;
    const bf = typedGraph(g, 'bf16');
    const e = await ort.InferenceSession.create(bf.encode(17)).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(/Could not find an implementation/);
    expect((e as Error).message).not.toMatch(/Type Error/);
    const orig = new Map(g.parts().inits.map((i) => [i.name, i]));
    const qkv = bf.parts().inits.find((i) => i.name === 'blocks.0.qkv.weightT')!;
    expect(qkv.type).toBe('bfloat16');
    const want = new Float32Array(orig.get('blocks.0.qkv.weightT')!.bytes().slice().buffer);
    const got = new Uint16Array(qkv.bytes().slice().buffer);
    for (let i = 0; i < want.length; i++) expect(got[i]).toBe(floatToBf16(want[i]));
    // LayerNorm scales stay float32 (the norm runs in float32).
    expect(bf.parts().inits.find((i) => i.name === 'blocks.0.norm1.weight')!.type).toBe('float');
    ck.close();
    const sam = openCheckpoint(join(FIX, 'sam/sam-tiny.pth'));
    for (const graph of [buildSamEncoder(sam).graph, buildSamDecoder(sam, { grid: 8 }).graph]) {
      const err = await ort.InferenceSession.create(typedGraph(graph, 'bf16').encode(17)).catch((x: unknown) => x as Error);
      expect((err as Error).message).toMatch(/Could not find an implementation/);
    }
    sam.close();
  });
});
