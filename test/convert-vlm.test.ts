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
import { buildLlama } from '../lib/convert/llama.js';
import { mergeLora } from '../lib/convert/lora.js';
import { encodeSafetensors, type StoredTensor } from '../lib/safetensors.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';
import { llamaReference } from './reference/llama-reference.js';
import { clipReference } from './reference/vit-reference.js';

const work = mkdtempSync(join(tmpdir(), 'hrseg-vlm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const seed = freshSeed();
const rng = makeRng(seed);

/** A random CLIP ViT (HF names under `prefix`) and a projector under `proj`. */
function tinyClip(prefix: string, proj: string, kind: 'linear' | 'mlp2x_gelu', D = 64, depth = 3, patch = 8, grid = 3, H = 40): string {
  const t: Record<string, StoredTensor> = {};
  const w = (name: string, shape: number[], scale = 1 / Math.sqrt(shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1)) =>
    (t[name] = {
      dtype: 'F32',
      shape,
      data: uniform(
        rng,
        shape.reduce((a, b) => a * b, 1),
        scale,
      ),
    });
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

/** A random LLaMA in Hugging Face names (`model.` prefix, lm_head beside it). */
function tinyLlama(H = 32, _heads = 2, layers = 2, I = 48, V = 40): string {
  const t: Record<string, StoredTensor> = {};
  const w = (name: string, shape: number[], scale = 1 / Math.sqrt(shape[1] ?? 1)) =>
    (t[name] = {
      dtype: 'F32',
      shape,
      data: uniform(
        rng,
        shape.reduce((a, b) => a * b, 1),
        scale,
      ),
    });
  w('model.embed_tokens.weight', [V, H], 1);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) w(`${p}self_attn.${n}.weight`, [H, H], 0.6);
    w(`${p}mlp.gate_proj.weight`, [I, H]);
    w(`${p}mlp.up_proj.weight`, [I, H]);
    w(`${p}mlp.down_proj.weight`, [H, I]);
    t[`${p}input_layernorm.weight`] = { dtype: 'F32', shape: [H], data: uniform(rng, H, 0.3).map((v) => 1 + v) };
    t[`${p}post_attention_layernorm.weight`] = { dtype: 'F32', shape: [H], data: uniform(rng, H, 0.3).map((v) => 1 + v) };
  }
  t['model.norm.weight'] = { dtype: 'F32', shape: [H], data: uniform(rng, H, 0.3).map((v) => 1 + v) };
  w('lm_head.weight', [V, H]);
  const file = join(work, 'llama.safetensors');
  writeFileSync(file, encodeSafetensors(t));
  return file;
}

describe(`LLaMA decoder with a key/value cache (seed ${seed})`, () => {
  it('uncached and cached (prefill, then decode steps) equal the float64 reference: hidden, logits, present', async () => {
    const ck = openCheckpoint(tinyLlama());
    const { graph, arch } = buildLlama(ck, { heads: 2, eps: 1e-6 });
    expect(arch).toMatchObject({ hidden: 32, layers: 2, heads: 2, headDim: 16, intermediate: 48, vocab: 40 });
    const session = await ort.InferenceSession.create(graph.encode(17));
    const S0 = 5,
      S1 = 2,
      H = 32,
      hd = 16;
    const embeds = uniform(rng, (S0 + S1) * H, 1);
    const empty = (n: number) => new ort.Tensor('float32', new Float32Array(0), [1, 2, n, hd]);
    const feeds = (x: Float32Array, pos: number[], past: Record<string, ort.Tensor>) => ({
      inputs_embeds: new ort.Tensor('float32', x, [1, pos.length, H]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(pos.map(BigInt)), [1, pos.length]),
      ...past,
    });
    const noPast = Object.fromEntries(
      [0, 1].flatMap((l) => [
        [`past.${l}.key`, empty(0)],
        [`past.${l}.value`, empty(0)],
      ]),
    );
    // Uncached: the whole sequence at once.
    const all = Array.from({ length: S0 + S1 }, (_, i) => i);
    const full = await session.run(feeds(embeds, all, noPast));
    const want = llamaReference(ck, 'model.', embeds, all, 2, 1e-6);
    expect(relError(full.hidden.data as Float32Array, want.hidden)).toBeLessThan(1e-4);
    expect(relError(full.logits.data as Float32Array, want.logits)).toBeLessThan(1e-4);
    expect(relError(full['present.1.key'].data as Float32Array, want.cache.keys[1])).toBeLessThan(1e-4);
    // Cached: prefill S0, then S1 single steps from the returned cache.
    let out = await session.run(feeds(embeds.slice(0, S0 * H), all.slice(0, S0), noPast));
    for (let s = S0; s < S0 + S1; s++) {
      const past = Object.fromEntries(
        [0, 1].flatMap((l) => [
          [`past.${l}.key`, out[`present.${l}.key`]],
          [`past.${l}.value`, out[`present.${l}.value`]],
        ]),
      );
      out = await session.run(feeds(embeds.slice(s * H, (s + 1) * H), [s], past));
      expect(relError(out.hidden.data as Float32Array, want.hidden.subarray(s * H, (s + 1) * H)), `step ${s}`).toBeLessThan(1e-4);
      expect(relError(out.logits.data as Float32Array, want.logits.subarray(s * 40, (s + 1) * 40)), `step ${s}`).toBeLessThan(1e-4);
    }
    expect(out['present.0.value'].dims).toEqual([1, 2, S0 + S1, hd]);
    await session.release();
    ck.close();
  });

  it("LLM-Seg's LLaMA: LoRA merged, prefix base_model.model.model., lm_head beside it", async () => {
    const { checkpoint: ck } = mergeLora(openCheckpoint(join(import.meta.dirname, 'fixtures/llmseg/mp_rank_00_model_states.pt')));
    const { graph, arch } = buildLlama(ck, { heads: 2 });
    expect(arch).toMatchObject({ prefix: 'base_model.model.model.', hidden: 32, layers: 2, vocab: 64 });
    const session = await ort.InferenceSession.create(graph.encode(17));
    const x = uniform(rng, 3 * 32, 1);
    const empty = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
    const out = await session.run({
      inputs_embeds: new ort.Tensor('float32', x, [1, 3, 32]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, 3]),
      'past.0.key': empty,
      'past.0.value': empty,
      'past.1.key': empty,
      'past.1.value': empty,
    });
    await session.release();
    expect(relError(out.logits.data as Float32Array, llamaReference(ck, 'base_model.model.model.', x, [0, 1, 2], 2, 1e-6).logits)).toBeLessThan(1e-4);
    ck.close();
  });
});
