/**
 * The quantized LLaMA decoder against float32 (README "Quantized decoders"): hidden at the last
 * prompt position (where h_seg is read: cosine, max and mean relative error) and whether greedy
 * answers change, over 100 prompts, on
 *  - a checkpoint whose weights imitate a trained LLaMA's: heavy-tailed (Student-t, 3 degrees)
 *    rows with per-row scales, three outlier input channels ×3, residual branches (o_proj,
 *    down_proj) ×0.1 against O(1) embeddings. The last makes the net contract perturbations as a
 *    trained one does; a plain random LLaMA is chaotic (any change to any weight, even in the last
 *    bit, grows layer by layer), so it says nothing about quantization error;
 *  - the tiny LLM-Seg-format checkpoint of the fixtures (LoRA merged first), which is such a
 *    plain random net: reported, and int8 is held to its mean.
 * ONNX Runtime runs the DequantizeLinear → MatMul pairs as its fused MatMulNBits at accuracy level
 * HRSEG_ACCURACY_LEVEL (default 4: ONNX Runtime's and the runtime's default). HRSEG_REPORT=1
 * prints every configuration's numbers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { openCheckpoint, type Checkpoint } from '../lib/checkpoint/index.js';
import { buildLlama, type LlamaOptions } from '../lib/convert/llama.js';
import { mergeLora } from '../lib/convert/lora.js';
import { dequantizeLinear, quantizeLinear, type QuantizeOptions } from '../lib/convert/quantize.js';
import { encodeSafetensors, type StoredTensor } from '../lib/safetensors.js';
import { cosine, freshSeed, heavy, makeRng, uniform } from './helpers/random.js';

const seed = freshSeed();
const rng = makeRng(seed);
const sessionOptions = (level: string) => ({ extra: { session: { qdq_matmulnbits_accuracy_level: level } } }) as ort.InferenceSession.SessionOptions;

const work = mkdtempSync(join(tmpdir(), 'hrseg-quant-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const LEVEL = process.env.HRSEG_ACCURACY_LEVEL ?? '4';
/** A LLaMA whose weights imitate a trained one's: heavy-tailed rows, a few outlier input channels. */
function trainedLikeLlama(H = 256, I = 512, L = 2, V = 200): string {
  const t: Record<string, StoredTensor> = {};
  const outliers = [3, 77, 190];
  const linear = (name: string, out: number, inDim: number) => {
    const w = heavy(rng, out * inDim, 1 / Math.sqrt(inDim));
    for (let o = 0; o < out; o++) {
      const rowScale = Math.exp(0.3 * (rng() * 2 - 1));
      for (let i = 0; i < inDim; i++) w[o * inDim + i] *= rowScale;
      for (const c of outliers) if (c < inDim) w[o * inDim + c] *= 3;
    }
    t[name] = { dtype: 'F32', shape: [out, inDim], data: w };
  };
  t['model.embed_tokens.weight'] = { dtype: 'F32', shape: [V, H], data: heavy(rng, V * H, 1) };
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    for (const n of ['q', 'k', 'v', 'o']) linear(`${p}self_attn.${n}_proj.weight`, H, H);
    linear(`${p}mlp.gate_proj.weight`, I, H);
    linear(`${p}mlp.up_proj.weight`, I, H);
    linear(`${p}mlp.down_proj.weight`, H, I);
    for (const n of [`${p}self_attn.o_proj.weight`, `${p}mlp.down_proj.weight`]) (t[n].data as Float32Array).forEach((v, i, a) => (a[i] = v * 0.1));
    for (const n of ['input_layernorm', 'post_attention_layernorm'])
      t[`${p}${n}.weight`] = { dtype: 'F32', shape: [H], data: uniform(rng, H, 0.3).map((v) => 1 + v) };
  }
  t['model.norm.weight'] = { dtype: 'F32', shape: [H], data: uniform(rng, H, 0.3).map((v) => 1 + v) };
  linear('lm_head.weight', V, H);
  const file = join(work, 'trained-like.safetensors');
  writeFileSync(file, encodeSafetensors(t));
  return file;
}

interface Decoder {
  run(
    embeds: Float32Array,
    positions: number[],
    past?: Record<string, ort.Tensor>,
  ): Promise<{ hidden: Float32Array; logits: Float32Array; present: Record<string, ort.Tensor> }>;
  release(): Promise<void>;
}

async function decoder(
  ck: Checkpoint,
  options: LlamaOptions,
): Promise<Decoder & { H: number; V: number; heads: number; kv: number; hd: number; layers: number }> {
  const { graph, arch } = buildLlama(ck, options);
  const session = await ort.InferenceSession.create(graph.encode(options.quantize ? 21 : 17), sessionOptions(LEVEL));
  const { hidden: H, vocab: V, heads, kvHeads: kv, headDim: hd, layers } = arch;
  return {
    H,
    V,
    heads,
    kv,
    hd,
    layers,
    async run(embeds, positions, past) {
      const empty = Object.fromEntries(
        [...Array(layers).keys()].flatMap((l) =>
          ['key', 'value'].map((k) => [`past.${l}.${k}`, new ort.Tensor('float32', new Float32Array(0), [1, kv, 0, hd])]),
        ),
      );
      const out = await session.run({
        inputs_embeds: new ort.Tensor('float32', embeds, [1, positions.length, H]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(positions.map(BigInt)), [1, positions.length]),
        ...(past ?? empty),
      });
      const present = Object.fromEntries([...Array(layers).keys()].flatMap((l) => ['key', 'value'].map((k) => [`past.${l}.${k}`, out[`present.${l}.${k}`]])));
      return { hidden: out.hidden.data as Float32Array, logits: out.logits.data as Float32Array, present };
    },
    release: () => session.release(),
  };
}

const argmax = (x: Float32Array, from: number, n: number) => {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[from + i] > x[from + best]) best = i;
  return best;
};

/** hidden at the last prompt position (where h_seg is read) and greedy answers, quantized vs float32, over `prompts` prompts. */
async function compare(ck: Checkpoint, base: LlamaOptions, q: QuantizeOptions & { lmHead?: 4 | 8 }, prompts: number, steps: number) {
  const ref = await decoder(ck, base),
    quant = await decoder(ck, { ...base, quantize: q });
  const emb = ck.get(ck.keys().find((k) => k.endsWith('embed_tokens.weight'))!).float32();
  const { H, V } = ref;
  const local = makeRng(seed + 1);
  let cosMin = 1,
    cosSum = 0,
    relMax = 0,
    relSum = 0,
    changed = 0;
  for (let p = 0; p < prompts; p++) {
    const n = 4 + Math.floor(local() * 12);
    const ids = Array.from({ length: n }, () => Math.floor(local() * V));
    const embeds = new Float32Array(n * H);
    ids.forEach((id, i) => embeds.set(emb.subarray(id * H, (id + 1) * H), i * H));
    const pos = [...Array(n).keys()];
    let a = await ref.run(embeds, pos),
      b = await quant.run(embeds, pos);
    const ha = a.hidden.subarray((n - 1) * H),
      hb = b.hidden.subarray((n - 1) * H);
    cosMin = Math.min(cosMin, cosine(ha, hb));
    cosSum += cosine(ha, hb);
    let err = 0,
      scale = 0;
    for (let i = 0; i < H; i++) {
      err = Math.max(err, Math.abs(ha[i] - hb[i]));
      scale = Math.max(scale, Math.abs(ha[i]));
    }
    relMax = Math.max(relMax, err / scale);
    relSum += err / scale;
    // Greedy answers, each over its own cache.
    let ta = argmax(a.logits, (n - 1) * V, V),
      tb = argmax(b.logits, (n - 1) * V, V);
    let same = ta === tb;
    for (let s = 0; s < steps && same; s++) {
      a = await ref.run(emb.slice(ta * H, (ta + 1) * H), [n + s], a.present);
      b = await quant.run(emb.slice(tb * H, (tb + 1) * H), [n + s], b.present);
      ta = argmax(a.logits, 0, V);
      tb = argmax(b.logits, 0, V);
      same = ta === tb;
    }
    if (!same) changed++;
  }
  await ref.release();
  await quant.release();
  return { cosMin, cosMean: cosSum / prompts, relMax, relMean: relSum / prompts, changed };
}

describe(`the quantized LLaMA decoder against float32 (seed ${seed}, accuracy level ${LEVEL})`, () => {
  it('the tiny LLM-Seg checkpoint (LoRA merged first, a chaotic random net): int8 keeps the mean cosine ≥ 0.998, int4 is further off', async () => {
    const { checkpoint: ck } = mergeLora(openCheckpoint(join(import.meta.dirname, 'fixtures/llmseg/mp_rank_00_model_states.pt')));
    // Its width is 32: blocks of 16 and 32.
    const int8 = await compare(ck, { heads: 2 }, { bits: 8 }, 20, 4); // per channel (buildLlama's int8)
    const int4 = await compare(ck, { heads: 2 }, { bits: 4, blockSize: 16 }, 20, 4);
    if (process.env.HRSEG_REPORT) console.log('llmseg', { int8, int4 });
    // Measured over seeds: int8 mean 0.9992–0.9998 (min 0.993–0.999), int4 mean 0.94–0.96: this
    // net amplifies every change (README "Quantized decoders"), so the targets are held on the
    // imitation below.
    expect(int8.cosMean).toBeGreaterThan(0.998);
    expect(int4.cosMean).toBeLessThan(int8.cosMean);
    ck.close();
  }, 120_000);

  it("a checkpoint with a trained LLaMA's statistics: the targets hold, and answers over 100 prompts are counted", async () => {
    const ck = openCheckpoint(trainedLikeLlama());
    const results: Record<string, Awaited<ReturnType<typeof compare>>> = {};
    for (const [name, q] of [
      ['int8-channel', { bits: 8 }],
      ['int4-b32', { bits: 4, blockSize: 32 }],
      ['int4-b16', { bits: 4, blockSize: 16 }],
      ['int4-b32-noclip', { bits: 4, blockSize: 32, clipSearch: false }],
      ['int4-b64', { bits: 4, blockSize: 64 }],
      ['int4-b128', { bits: 4, blockSize: 128 }],
      ['int4-b32-asym', { bits: 4, blockSize: 32, asymmetric: true }],
      ['int4-b32+lm_head-int8', { bits: 4, blockSize: 32, lmHead: 8 }],
    ] as [string, QuantizeOptions & { lmHead?: 8 }][])
      results[name] = await compare(ck, { heads: 4 }, q, 100, 6);
    if (process.env.HRSEG_REPORT) console.log('trained-like', results);
    // The targets (int8 ≥ 0.999, int4 ≥ 0.99) hold on average over the 100 prompts; the worst
    // prompt moves with the seed (over 30 seeds: int8 down to 0.998, int4 down to 0.945; README
    // "Quantized decoders"), so it is held to looser bounds.
    expect(results['int8-channel'].cosMean).toBeGreaterThan(0.9995);
    expect(results['int8-channel'].cosMin).toBeGreaterThan(0.995);
    expect(results['int4-b32'].cosMean).toBeGreaterThan(0.99);
    expect(results['int4-b32'].cosMin).toBeGreaterThan(0.9);
    // int8 changes fewer answers than int4; smaller blocks are closer (mean cosine over the 100
    // prompts: the steadiest of these measures from seed to seed).
    expect(results['int8-channel'].changed).toBeLessThan(results['int4-b32'].changed);
    expect(results['int4-b16'].cosMean).toBeGreaterThan(results['int4-b32'].cosMean);
    expect(results['int4-b32'].cosMean).toBeGreaterThan(results['int4-b128'].cosMean);
    // The clip search never makes a weight worse (each block keeps the smallest squared error, r = 1
    // included) and makes the weights as a whole closer; its effect on the outputs is within the
    // seed-to-seed noise (README table: 0.9940 against 0.9928 mean cosine at seed 12345).
    const sqErr = (clipSearch: boolean) => {
      let e = 0;
      for (const k of ck.keys().filter((k) => /layers\.\d+\..*_proj\.weight$/.test(k))) {
        const t = ck.get(k),
          [out, inDim] = t.shape,
          w = t.float32();
        const d = dequantizeLinear(quantizeLinear(w, out, inDim, { bits: 4, blockSize: 32, clipSearch }));
        for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) e += (d[i * out + o] - w[o * inDim + i]) ** 2;
      }
      return e;
    };
    expect(sqErr(true)).toBeLessThan(sqErr(false));
    ck.close();
  }, 600_000);
});
