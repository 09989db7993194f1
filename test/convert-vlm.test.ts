/**
 * The language side's graph builders against independent float64 references (written for the
 * tests from transformers' and LLaVA's definitions) on tiny random checkpoints in the real key
 * layouts: the CLIP vision tower with LLaVA's projector.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { buildClipVision } from '../lib/convert/clip.js';
import { encodeSafetensors, type StoredTensor } from '../lib/safetensors.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';
import { clipReference } from './reference/vit-reference.js';

const work = mkdtempSync(join(tmpdir(), 'hrseg-vlm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const seed = freshSeed();
const rng = makeRng(seed);

/** A random CLIP ViT (HF names under `prefix`) and a projector under `proj`. */
function tinyClip(prefix: string, proj: string, kind: 'linear' | 'mlp2x_gelu', D = 64, depth = 3, patch = 8, grid = 3, H = 40): string {
  const t: Record<string, StoredTensor> = {};
  const w = (name: string, shape: number[], scale = 1 / Math.sqrt(shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1)) =>
    (t[name] = { dtype: 'F32', shape, data: uniform(rng, shape.reduce((a, b) => a * b, 1), scale) });
  const ln = (name: string) => {
    t[`${name}.weight`] = { dtype: 'F32', shape: [D], data: uniform(rng, D, 0.3).map((v) => 1 + v) };
    w(`${name}.bias`, [D], 0.2);
  };
  w(`${prefix}embeddings.class_embedding`, [D], 0.5);
  w(`${prefix}embeddings.patch_embedding.weight`, [D, 3, patch, patch]);
  w(`${prefix}embeddings.position_embedding.weight`, [1 + grid * grid, D], 0.5);
  ln(`${prefix}pre_layrnorm`);
  for (let l = 0; l < depth; l++) {
    const p = `${prefix}encoder.layers.${l}.`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      w(`${p}self_attn.${n}.weight`, [D, D]);
      w(`${p}self_attn.${n}.bias`, [D], 0.2);
    }
    ln(`${p}layer_norm1`);
    ln(`${p}layer_norm2`);
    w(`${p}mlp.fc1.weight`, [2 * D, D]);
    w(`${p}mlp.fc1.bias`, [2 * D], 0.2);
    w(`${p}mlp.fc2.weight`, [D, 2 * D]);
    w(`${p}mlp.fc2.bias`, [D], 0.2);
  }
  ln(`${prefix}post_layernorm`); // unused by LLaVA
  if (kind === 'linear') {
    w(`${proj}.weight`, [H, D]);
    w(`${proj}.bias`, [H], 0.2);
  } else {
    w(`${proj}.0.weight`, [H, D]);
    w(`${proj}.0.bias`, [H], 0.2);
    w(`${proj}.2.weight`, [H, H]);
    w(`${proj}.2.bias`, [H], 0.2);
  }
  const file = join(work, `clip-${kind}.safetensors`);
  writeFileSync(file, encodeSafetensors(t));
  return file;
}

describe(`CLIP vision tower + LLaVA projector (seed ${seed})`, () => {
  for (const [kind, prefix, proj] of [
    ['linear', 'model.vision_tower.vision_tower.vision_model.', 'model.mm_projector'],
    ['mlp2x_gelu', 'vision_model.', 'model.mm_projector'],
  ] as const)
    it(`hidden_states[-2] without CLS through a ${kind} projector equals the float64 reference`, async () => {
      const ck = openCheckpoint(tinyClip(prefix, proj, kind));
      const { graph, arch, tokens } = buildClipVision(ck);
      expect(arch).toMatchObject({ dim: 64, depth: 3, heads: 1, patch: 8, imageSize: 24, projector: kind, hidden: 40 });
      expect(tokens).toBe(9);
      const image = uniform(rng, 3 * 24 * 24, 2);
      const session = await ort.InferenceSession.create(graph.encode(17));
      const out = await session.run({ pixel_values: new ort.Tensor('float32', image, [1, 3, 24, 24]) });
      await session.release();
      expect(out.image_embeds.dims).toEqual([1, 9, 40]);
      const want = clipReference(ck, prefix, proj, image, 1);
      const err = relError(out.image_embeds.data as Float32Array, want);
      expect(err, `relative error ${err}`).toBeLessThan(1e-4);
      // hidden_states[-1] (all layers) differs: the selected layer matters.
      expect(relError(out.image_embeds.data as Float32Array, clipReference(ck, prefix, proj, image, 1, -1))).toBeGreaterThan(1e-3);
      ck.close();
    });
});
