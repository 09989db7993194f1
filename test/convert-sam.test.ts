/**
 * The SAM graph builders against the official code's own outputs (golden data written by
 * scripts/fixtures/make_sam_golden.py running facebookresearch/segment-anything on torch 1.13):
 * a tiny encoder with padded windows, a global block and relative positions, in the official and
 * Hugging Face key layouts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { buildSamDecoder } from '../lib/convert/sam-decoder.js';
import { buildSamEncoder, samEncoderArch } from '../lib/convert/sam-encoder.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';
import { samDecoderReference, samEncoderReference } from './reference/vit-reference.js';

const FIX = join(import.meta.dirname, 'fixtures/sam');
const meta = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8')) as {
  commit: string;
  torch: string;
  encoder: { model: string; input: string; inputShape: number[]; output: string; outputShape: number[] }[];
  decoder: { grid: number; embeddings: string; coords: string; labels: string; masks: string; masksShape: number[]; iou: string; iouShape: number[] }[];
};
const f32 = (file: string) => {
  const b = readFileSync(join(FIX, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

describe(`SAM graphs equal facebookresearch/segment-anything@${meta.commit.slice(0, 8)} (torch ${meta.torch})`, () => {
  for (const file of ['sam-tiny.pth', 'sam-tiny-hf.safetensors'])
    it(`image encoder: windows with padding, a global block, relative positions, neck (${file})`, async () => {
      const c = meta.encoder[0];
      const ck = openCheckpoint(join(FIX, file));
      const { graph, arch, imageSize } = buildSamEncoder(ck);
      expect(arch).toMatchObject({ dim: 64, depth: 2, heads: 2, grid: 8, windows: [3, 0], outChannels: 32, mlp: 64 });
      expect(imageSize).toBe(128);
      const session = await ort.InferenceSession.create(graph.encode(17));
      const out = await session.run({ image: new ort.Tensor('float32', f32(c.input), c.inputShape) });
      await session.release();
      ck.close();
      expect(out.image_embeddings.dims).toEqual(c.outputShape);
      const err = relError(out.image_embeddings.data as Float32Array, f32(c.output));
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
    });

  it('image encoder equals an independent float64 reference on a fresh random image', async () => {
    const seed = freshSeed();
    const image = uniform(makeRng(seed), 3 * 128 * 128, 2);
    const ck = openCheckpoint(join(FIX, 'sam-tiny.pth'));
    const { graph } = buildSamEncoder(ck);
    const session = await ort.InferenceSession.create(graph.encode(17));
    const out = await session.run({ image: new ort.Tensor('float32', image, [1, 3, 128, 128]) });
    await session.release();
    const err = relError(out.image_embeddings.data as Float32Array, samEncoderReference(ck, image, 128, 2, [3, 0]));
    ck.close();
    expect(err, `relative error ${err} (seed ${seed})`).toBeLessThan(1e-4);
  });

  for (const file of ['sam-tiny.pth', 'sam-tiny-hf.safetensors'])
    it(`prompt encoder + mask decoder: point prompts (labels 1, 0, −1) with the padding point, multimask masks and IoU (${file})`, async () => {
      const c = meta.decoder[0];
      const ck = openCheckpoint(join(FIX, file));
      const { graph, dim, depth } = buildSamDecoder(ck, { grid: c.grid });
      expect([dim, depth]).toEqual([32, 2]);
      const session = await ort.InferenceSession.create(graph.encode(17));
      const B = c.masksShape[0];
      const out = await session.run({
        image_embeddings: new ort.Tensor('float32', f32(c.embeddings), [1, dim, c.grid, c.grid]),
        point_coords: new ort.Tensor('float32', f32(c.coords), [B, 1, 2]),
        point_labels: new ort.Tensor('float32', f32(c.labels), [B, 1]),
      });
      await session.release();
      ck.close();
      expect(out.low_res_masks.dims).toEqual(c.masksShape);
      expect(out.iou_predictions.dims).toEqual(c.iouShape);
      const em = relError(out.low_res_masks.data as Float32Array, f32(c.masks)),
        ei = relError(out.iou_predictions.data as Float32Array, f32(c.iou));
      expect(em, `masks: relative error ${em}`).toBeLessThan(1e-4);
      expect(ei, `IoU: relative error ${ei}`).toBeLessThan(1e-4);
    });

  it('prompt encoder + mask decoder equal an independent float64 reference on fresh random embeddings and prompts', async () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const ck = openCheckpoint(join(FIX, 'sam-tiny.pth'));
    const { graph } = buildSamDecoder(ck, { grid: 8 });
    const B = 6,
      emb = uniform(rng, 32 * 64, 1.5),
      coords = uniform(rng, 2 * B, 64).map((v) => v + 64);
    const labels = Float32Array.from([1, 0, -1, 1, 1, 0]);
    const session = await ort.InferenceSession.create(graph.encode(17));
    const out = await session.run({
      image_embeddings: new ort.Tensor('float32', emb, [1, 32, 8, 8]),
      point_coords: new ort.Tensor('float32', coords, [B, 1, 2]),
      point_labels: new ort.Tensor('float32', labels, [B, 1]),
    });
    await session.release();
    const want = samDecoderReference(ck, emb, 8, coords, labels, 8);
    ck.close();
    const em = relError(out.low_res_masks.data as Float32Array, want.masks),
      ei = relError(out.iou_predictions.data as Float32Array, want.iou);
    expect(em, `masks: relative error ${em} (seed ${seed})`).toBeLessThan(1e-4);
    expect(ei, `IoU: relative error ${ei} (seed ${seed})`).toBeLessThan(1e-4);
  });

  it('prompted by sparse embeddings (LISA: one [SEG] embedding, single mask) equals the float64 reference; multimask too', async () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const ck = openCheckpoint(join(FIX, 'sam-tiny.pth'));
    const emb = uniform(rng, 32 * 64, 1.5);
    for (const [n, multimask] of [
      [1, false],
      [2, true],
    ] as const) {
      const { graph } = buildSamDecoder(ck, { grid: 8, prompt: 'embeddings', multimask });
      const B = 3,
        sparse = uniform(rng, B * n * 32, 1);
      const session = await ort.InferenceSession.create(graph.encode(17));
      expect(session.inputNames).toEqual(['image_embeddings', 'sparse_embeddings']);
      const out = await session.run({
        image_embeddings: new ort.Tensor('float32', emb, [1, 32, 8, 8]),
        sparse_embeddings: new ort.Tensor('float32', sparse, [B, n, 32]),
      });
      await session.release();
      expect(out.low_res_masks.dims).toEqual([B, multimask ? 3 : 1, 32, 32]);
      const want = samDecoderReference(ck, emb, 8, new Float32Array(0), new Float32Array(0), 8, { sparse, n, multimask });
      const em = relError(out.low_res_masks.data as Float32Array, want.masks),
        ei = relError(out.iou_predictions.data as Float32Array, want.iou);
      expect(em, `n ${n}, masks: relative error ${em} (seed ${seed})`).toBeLessThan(1e-4);
      expect(ei, `n ${n}, IoU: relative error ${ei} (seed ${seed})`).toBeLessThan(1e-4);
    }
    ck.close();
  });

  it('says what is missing in a checkpoint that is not SAM', () => {
    const ck = openCheckpoint(join(import.meta.dirname, 'fixtures/dinov2/vit-tiny.pth'));
    expect(() => samEncoderArch(ck)).toThrow(/not a SAM checkpoint/);
    expect(() => buildSamDecoder(ck)).toThrow(/not a SAM checkpoint/);
    ck.close();
  });
});
