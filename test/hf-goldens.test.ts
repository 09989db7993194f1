/**
 * The converter's graphs against the upstream code itself: golden outputs of Hugging Face
 * transformers' models on tiny random weights (scripts/fixtures/make_hf_*.py, pinned in
 * scripts/fixtures/requirements-hf.txt; the versions are recorded in each cases.json), read here
 * with no Python. Each comparison also shows that a deliberately wrong detail misses the golden,
 * so the 1e-4 bound is tight enough to catch it.
 */
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { openCheckpoint, type Checkpoint } from '../lib/checkpoint/index.js';
import { buildClipVision } from '../lib/convert/clip.js';
import { buildDinov2, type DinoTableMode } from '../lib/convert/dinov2.js';
import { buildLlama } from '../lib/convert/llama.js';
import { buildSamDecoder } from '../lib/convert/sam-decoder.js';
import { buildSamEncoder } from '../lib/convert/sam-encoder.js';
import { readSentencePieceModel, sentencePieceToTokenizerJson } from '../lib/convert/sentencepiece.js';
import { prepareTokenizer } from '../lib/convert/tokenizer.js';
import { VlmTokenizer } from '../lib/vlm/tokenizer.js';
import type { GraphBuilder } from '../lib/onnx/graph.js';
import { encodeSafetensors, type StoredTensor } from '../lib/safetensors.js';
import { relError } from './helpers/random.js';

const fixtures = join(import.meta.dirname, 'fixtures', 'hf');
const work = mkdtempSync(join(tmpdir(), 'hrseg-hf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A golden folder's cases.json. */
const readCases = <T>(dir: string): T => JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as T;

/** One run of a graph in a session of its own. */
async function runOnce(graph: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(graph.encode(17));
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const f32 = (dir: string, file: string) => {
  const b = readFileSync(join(dir, file));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
};

interface LlamaCase {
  name: string;
  hidden: number;
  heads: number;
  kv: number;
  layers: number;
  vocab: number;
  eps: number;
  file: string;
  steps: { positions: number[]; embeds: string; hidden: string; logits: string }[];
}

const llamaDir = join(fixtures, 'llama');
const llama = readCases<{ versions: Record<string, string>; cases: LlamaCase[] }>(llamaDir);

/** The worst relative error of hidden and logits over a prefill and the cached steps after it. */
async function llamaError(ck: Checkpoint, c: LlamaCase, eps = c.eps): Promise<{ hidden: number; logits: number; kvShape: readonly number[] }> {
  const { graph, arch } = buildLlama(ck, { heads: c.heads, eps });
  expect(arch).toMatchObject({ heads: c.heads, kvHeads: c.kv, layers: c.layers, vocab: c.vocab });
  const session = await ort.InferenceSession.create(graph.encode(17));
  const hd = c.hidden / c.heads;
  let past: Record<string, ort.Tensor> = {};
  for (let l = 0; l < c.layers; l++)
    for (const kind of ['key', 'value']) past[`past.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, c.kv, 0, hd]);
  let hidden = 0,
    logits = 0;
  let kvShape: readonly number[] = [];
  for (const s of c.steps) {
    const out = await session.run({
      inputs_embeds: new ort.Tensor('float32', f32(llamaDir, s.embeds), [1, s.positions.length, c.hidden]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(s.positions.map(BigInt)), [1, s.positions.length]),
      ...past,
    });
    hidden = Math.max(hidden, relError(out.hidden.data as Float32Array, f32(llamaDir, s.hidden)));
    logits = Math.max(logits, relError(out.logits.data as Float32Array, f32(llamaDir, s.logits)));
    past = {};
    for (let l = 0; l < c.layers; l++) for (const kind of ['key', 'value']) past[`past.${l}.${kind}`] = out[`present.${l}.${kind}`];
    kvShape = out['present.0.key'].dims;
  }
  await session.release();
  return { hidden, logits, kvShape };
}

/**
 * The same weights with each head's q/k rows in Meta's original order (RoPE pairs interleaved:
 * 0,1 | 2,3 …), the layout Hugging Face's conversion script permutes away: read as HF's rotate_half
 * halves, the rotary embedding pairs the wrong coordinates.
 */
function metaLayout(ck: Checkpoint, c: LlamaCase): Checkpoint {
  const hd = c.hidden / c.heads;
  const t: Record<string, StoredTensor> = {};
  for (const k of ck.keys()) {
    const x = ck.get(k);
    let data = x.float32();
    if (/self_attn\.[qk]_proj\.weight$/.test(k)) {
      const [rows, cols] = x.shape;
      const out = new Float32Array(data.length);
      for (let r = 0; r < rows; r++) {
        const head = Math.floor(r / hd),
          i = r % hd;
        // HF row i of a head holds Meta's row 2i (first half) or 2(i − hd/2) + 1 (second half).
        const meta = i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1;
        out.set(data.subarray(r * cols, (r + 1) * cols), (head * hd + meta) * cols);
      }
      data = out;
    }
    t[k] = { dtype: 'F32', shape: [...x.shape], data };
  }
  const file = join(work, `${c.name}-meta.safetensors`);
  writeFileSync(file, encodeSafetensors(t));
  return openCheckpoint(file);
}

describe(`LLaMA against transformers ${llama.versions.transformers} (torch ${llama.versions.torch})`, () => {
  for (const c of llama.cases)
    it(`${c.name}: ${c.heads} heads over ${c.kv} key/value heads, eps ${c.eps}: prefill and ${c.steps.length - 1} cached steps within 1e-4`, async () => {
      const ck = openCheckpoint(join(llamaDir, c.file));
      const right = await llamaError(ck, c);
      expect(right.hidden).toBeLessThan(1e-4);
      expect(right.logits).toBeLessThan(1e-4);
      const total = c.steps.reduce((n, s) => n + s.positions.length, 0);
      expect(right.kvShape).toEqual([1, c.kv, total, c.hidden / c.heads]); // the cache stays at the key/value heads
      // The other eps misses.
      const wrongEps = await llamaError(ck, c, c.eps === 1e-6 ? 1e-5 : 1e-6);
      expect(Math.max(wrongEps.hidden, wrongEps.logits)).toBeGreaterThan(1e-4);
      // So does RoPE over the wrong pairs.
      const meta = metaLayout(ck, c);
      const wrongPairs = await llamaError(meta, c);
      expect(Math.max(wrongPairs.hidden, wrongPairs.logits)).toBeGreaterThan(1e-2);
      meta.close();
      ck.close();
    });
});

const clipDir = join(fixtures, 'clip');
const clip = readCases<{
  versions: Record<string, string>;
  pixels: string;
  linear: string;
  mlp2x_gelu: string;
  tokens: number;
  hidden: number;
  heads: number;
}>(clipDir);

async function clipEmbeds(tower: Checkpoint, projector: Checkpoint | undefined, selectLayer?: number): Promise<Float32Array> {
  const { graph, arch, tokens } = buildClipVision(tower, { projector, heads: clip.heads, selectLayer });
  expect(tokens).toBe(clip.tokens);
  const out = await runOnce(graph, { pixel_values: new ort.Tensor('float32', f32(clipDir, clip.pixels), [1, 3, arch.imageSize, arch.imageSize]) });
  return out.image_embeds.data as Float32Array;
}

describe(`CLIP vision tower with LLaVA's selection and projectors against transformers ${clip.versions.transformers}`, () => {
  it("hidden_states[-2] without the class token, through a LLaVA v1 'linear' projector from its own file (Hugging Face names)", async () => {
    const tower = openCheckpoint(join(clipDir, 'clip.safetensors'));
    const projector = openCheckpoint(join(clipDir, 'mm_projector-linear.safetensors'));
    expect(relError(await clipEmbeds(tower, projector), f32(clipDir, clip.linear))).toBeLessThan(1e-4);
    // The last layer's output (hidden_states[-1]) instead of LLaVA's −2 misses.
    expect(relError(await clipEmbeds(tower, projector, -1), f32(clipDir, clip.linear))).toBeGreaterThan(1e-2);
    tower.close();
    projector.close();
  });

  it("the same tower under LLaVA's prefix with an 'mlp2x_gelu' projector beside it (LLaVA-1.5 layout)", async () => {
    const ck = openCheckpoint(join(clipDir, 'llava-mlp2x.safetensors'));
    expect(relError(await clipEmbeds(ck, undefined), f32(clipDir, clip.mlp2x_gelu))).toBeLessThan(1e-4);
    ck.close();
  });
});

const dinoDir = join(fixtures, 'dinov2');
const dino = readCases<{
  versions: Record<string, string>;
  heads: number;
  dim: number;
  views: { size: number; stride: number; tokens: number; file: string }[];
}>(dinoDir);

/** The generator's pixels: sin(0.013·x + 0.017·y + 0.5·c), in float32 as torch computes it. */
function dinoPixels(size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  const f = Math.fround;
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) out[(c * size + y) * size + x] = Math.sin(f(f(f(f(0.013) * x) + f(f(0.017) * y)) + f(0.5 * c)));
  return out;
}

async function dinoTokens(ck: Checkpoint, size: number, tableMode?: DinoTableMode): Promise<Float32Array> {
  const { graph, tokens } = buildDinov2(ck, { viewSize: size, heads: dino.heads, tableMode });
  expect(tokens).toBe((size / 14) ** 2);
  const out = await runOnce(graph, { pixel_values: new ort.Tensor('float32', dinoPixels(size), [1, 3, size, size]) });
  return out.patch_tokens.data as Float32Array;
}

function strided(t: Float32Array, stride: number, C: number): Float32Array {
  const n = Math.ceil(t.length / C / stride);
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) out.set(t.subarray(i * stride * C, (i * stride + 1) * C), i * C);
  return out;
}

describe(`DINOv2 (Hugging Face names) against transformers ${dino.versions.transformers}'s Dinov2Model`, () => {
  const ck = () => openCheckpoint(join(dinoDir, 'dinov2.safetensors'));
  it('518: the stored 37×37 table, final-norm patch tokens within 1e-4', async () => {
    const c = ck();
    const v = dino.views.find((x) => x.size === 518)!;
    expect(relError(await dinoTokens(c, 518), f32(dinoDir, v.file))).toBeLessThan(1e-4);
    c.close();
  });

  it("896: transformers' interpolation (bicubic to the size, A = −0.75, no antialias, no +0.1 offset) within 1e-4; the official code's tables differ", async () => {
    const c = ck();
    const v = dino.views.find((x) => x.size === 896)!;
    const want = f32(dinoDir, v.file);
    expect(relError(strided(await dinoTokens(c, 896, 'size'), v.stride, dino.dim), want)).toBeLessThan(1e-4);
    // Antialiased bicubic (PIL's A = −0.5, the register models' official table) differs too.
    expect(relError(strided(await dinoTokens(c, 896, 'antialias'), v.stride, dino.dim), want)).toBeGreaterThan(1e-3);
    // What the converter bakes by default for a model without registers is the official code's
    // table (scale (n + 0.1)/M, as facebookresearch/dinov2 and LLM-Seg run it): not transformers'.
    const official = relError(strided(await dinoTokens(c, 896), v.stride, dino.dim), want);
    expect(official).toBeGreaterThan(1e-3);
    c.close();
  });
});

const samDir = join(fixtures, 'sam');
const sam = readCases<{
  versions: Record<string, string>;
  pixels: string;
  embeddings: string;
  points: [number, number][];
  labels: number[];
  masks: string;
  iou: string;
  grid: number;
  decoderHeads: number;
  channels: number;
}>(samDir);

describe(`SAM (Hugging Face names) against transformers ${sam.versions.transformers}'s SamModel`, () => {
  it('the image encoder: windowed and global blocks with relative positions, the neck: embeddings within 1e-4', async () => {
    const ck = openCheckpoint(join(samDir, 'sam.safetensors'));
    const { graph, arch, imageSize } = buildSamEncoder(ck);
    expect(arch).toMatchObject({ naming: 'hf', grid: sam.grid, windows: [2, 0] });
    const out = await runOnce(graph, { image: new ort.Tensor('float32', f32(samDir, sam.pixels), [1, 3, imageSize, imageSize]) });
    expect(relError(out.image_embeddings.data as Float32Array, f32(samDir, sam.embeddings))).toBeLessThan(1e-4);
    ck.close();
  });

  it('the prompt encoder and mask decoder: three multimask outputs and IoU for points of label 1 and 0 (with the padding point) within 1e-4', async () => {
    const ck = openCheckpoint(join(samDir, 'sam.safetensors'));
    const run = async (heads: number) => {
      const { graph } = buildSamDecoder(ck, { grid: sam.grid, heads });
      const B = sam.points.length;
      const out = await runOnce(graph, {
        image_embeddings: new ort.Tensor('float32', f32(samDir, sam.embeddings), [1, sam.channels, sam.grid, sam.grid]),
        point_coords: new ort.Tensor('float32', Float32Array.from(sam.points.flat()), [B, 1, 2]),
        point_labels: new ort.Tensor('float32', Float32Array.from(sam.labels), [B, 1]),
      });
      return { masks: out.low_res_masks.data as Float32Array, iou: out.iou_predictions.data as Float32Array };
    };
    const right = await run(sam.decoderHeads);
    expect(relError(right.masks, f32(samDir, sam.masks))).toBeLessThan(1e-4);
    expect(relError(right.iou, f32(samDir, sam.iou))).toBeLessThan(1e-4);
    // The head count is not stored in the weights: the wrong one misses.
    const wrong = await run(1);
    expect(relError(wrong.masks, f32(samDir, sam.masks))).toBeGreaterThan(1e-3);
    ck.close();
  });
});

const tokDir = join(fixtures, 'tokenizer');
const tok = readCases<{
  versions: Record<string, string>;
  vocab: number;
  added: Record<string, number>;
  bos: number;
  eos: number;
  cases: { text: string; ids: number[] }[];
}>(tokDir);

/** The package's tokenizer made from `source` by hrseg's converter, loaded by the runtime. */
async function packageTokenizer(source: string, name: string): Promise<VlmTokenizer> {
  const { json, config, added } = prepareTokenizer(source, tok.vocab + 4);
  expect(added.filter((a) => a !== '<image>')).toEqual(['<im_patch>', '<im_start>', '<im_end>', '[SEG]']);
  const file = join(work, `${name}.json`),
    configFile = join(work, `${name}-config.json`);
  writeFileSync(file, JSON.stringify(json));
  writeFileSync(configFile, JSON.stringify(config));
  return VlmTokenizer.load(file, configFile);
}

function mismatches(t: VlmTokenizer): string[] {
  return tok.cases.filter((c) => JSON.stringify(t.encode(c.text)) !== JSON.stringify(c.ids)).map((c) => JSON.stringify(c.text));
}

describe(`LLaMA's tokenizer against transformers ${tok.versions.transformers}'s slow LlamaTokenizer (sentencepiece ${tok.versions.sentencepiece}), ${tok.cases.length} prompts`, () => {
  it("hrseg convert --tokenizer tokenizer.model: the ids of every prompt equal the slow tokenizer's", async () => {
    const t = await packageTokenizer(join(tokDir, 'tokenizer.model'), 'from-model');
    expect(mismatches(t)).toEqual([]);
    for (const [token, id] of Object.entries(tok.added)) expect(t.singleToken(token)).toBe(id);
    expect(t.singleToken('<s>')).toBe(tok.bos);
  });

  it('the same from the tokenizer.json transformers converts it to (what people download beside it)', async () => {
    expect(mismatches(await packageTokenizer(join(tokDir, 'tokenizer.json'), 'from-json'))).toEqual([]);
  });

  it("the converted vocabulary and merges are transformers' own (merges in the same order up to ties between splits of one piece)", () => {
    const ours = sentencePieceToTokenizerJson(readSentencePieceModel(readFileSync(join(tokDir, 'tokenizer.model')))) as {
      model: { vocab: Record<string, number>; merges: string[] };
    };
    const theirs = JSON.parse(readFileSync(join(tokDir, 'tokenizer.json'), 'utf8')) as {
      model: { vocab: Record<string, number>; merges: (string | string[])[] };
    };
    expect(ours.model.vocab).toEqual(theirs.model.vocab);
    const merged = (m: string) => ours.model.vocab[m.replace(' ', '')];
    const theirMerges = theirs.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
    expect([...ours.model.merges].sort()).toEqual([...theirMerges].sort());
    // Both rank a merge by the piece it makes; transformers 4.31 and 5 order two splits of one
    // piece differently (5 by the halves' lengths), which no encoding can tell apart.
    expect(ours.model.merges.map(merged)).toEqual(theirMerges.map(merged));
  });

  it('a wrong detail misses: without the dummy prefix, and with merges in score order reversed', async () => {
    const model = readSentencePieceModel(readFileSync(join(tokDir, 'tokenizer.model')));
    const variant = async (json: object, name: string) => {
      const file = join(work, `${name}.json`);
      writeFileSync(file, JSON.stringify(json));
      return mismatches(await packageTokenizer(file, `${name}-pkg`)).length;
    };
    expect(await variant(sentencePieceToTokenizerJson({ ...model, addDummyPrefix: false }), 'no-prefix')).toBeGreaterThan(10);
    const reversed = sentencePieceToTokenizerJson(model) as { model: { merges: string[] } };
    reversed.model.merges.reverse();
    expect(await variant(reversed, 'reversed')).toBeGreaterThan(10);
  });

  it('refuses what it cannot convert faithfully, and damaged files, with typed errors', () => {
    const bytes = readFileSync(join(tokDir, 'tokenizer.model'));
    const model = readSentencePieceModel(bytes);
    expect(() => sentencePieceToTokenizerJson({ ...model, modelType: 1 })).toThrow(/unigram model, not BPE/);
    expect(() => sentencePieceToTokenizerJson({ ...model, normalizer: 'nmt_nfkc' })).toThrow(/normaliser is 'nmt_nfkc'/);
    expect(() => sentencePieceToTokenizerJson({ ...model, removeExtraWhitespaces: true })).toThrow(/collapses extra whitespace/);
    for (const cut of [1, 100, Math.floor(bytes.length / 2), bytes.length - 3]) {
      const damaged = join(work, `cut-${cut}.model`);
      writeFileSync(damaged, bytes.subarray(0, cut));
      expect(() => prepareTokenizer(damaged, tok.vocab + 4), `cut at ${cut}`).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/MODEL_FILE|INVALID_ARGUMENT/) }),
      );
    }
    const junk = join(work, 'junk.model');
    writeFileSync(junk, Buffer.from('this is not a protobuf at all, just text\n'));
    expect(() => prepareTokenizer(junk, tok.vocab + 4)).toThrow(/not a sentencepiece model|INVALID|tokens/);
  });
});
