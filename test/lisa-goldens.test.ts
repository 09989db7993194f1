/**
 * `hrseg convert --lisa` against LISA's own code (dvlab-research/LISA@3cb2d430, run in float32 by
 * scripts/fixtures/make_lisa_golden.py): the tiny random checkpoint is rebuilt here from the
 * portable rule cases.json records (test/helpers/lisa-tiny.ts, every tensor's sha256 checked by
 * test/lisa-tiny-weights.test.ts), converted, and each converted piece run on the golden inputs:
 * SAM's view and encoder (the embedding, sampled every 8th cell), the CLIP tower and projector
 * (the 256 image tokens), the tokenizer (the prompt's ids), the LLaMA decoder (the final-norm
 * hidden states of the whole prompt, teacher-forced), text_hidden_fcs (the [SEG] embedding), and
 * the decoder prompted by it with LISA's postprocess (the mask logits and masks). Then the whole
 * package through the runtime's lisa preset (createSegmenter → segment / segmentStream), in LISA's
 * teacher-forced evaluation and in its chat's greedy generation.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { convert, type ConvertResult } from '../lib/convert/convert.js';
import { readPackage } from '../lib/package/manifest.js';
import { createSegmenter, type Segmenter } from '../lib/segmenter.js';
import { buildSamDecoder } from '../lib/convert/sam-decoder.js';
import { lisaMaskLogits, masksFromLogits } from '../lib/lisa/masks.js';
import { tensor } from '../lib/tensor.js';
import { CLIP_VIEW, SAM_VIEW, centerCropView, squareView } from '../lib/views.js';
import { VlmTokenizer } from '../lib/vlm/tokenizer.js';
import { writeLisaTiny } from './helpers/lisa-tiny.js';
import { pillowResize } from './helpers/pillow-resize.js';
import { relError } from './helpers/random.js';

const FIX = join(import.meta.dirname, 'fixtures/lisa');
const meta = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8'));
interface Case {
  name: string;
  mode: string;
  image: string;
  prompt: string;
  text?: string;
  is_sentence?: boolean;
  typed?: string;
  generated_ids?: number[];
  input_ids: number[];
  final_hidden: string;
  final_hidden_shape: number[];
  seg_hidden_indices: number[];
  h_seg?: string;
  t_seg?: string;
  mask_logits?: string;
  mask_logits_shape?: number[];
  mask?: string;
  n_seg: number;
}
const cases = meta.cases as Case[];
const f32 = (file: string) => {
  const b = readFileSync(join(FIX, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const rgb = (name: string) => {
  const im = meta.images[name] as { file: string; width: number; height: number };
  return { data: new Uint8Array(readFileSync(join(FIX, im.file))), width: im.width, height: im.height, channels: 3 as const };
};
const work = mkdtempSync(join(tmpdir(), 'hrseg-lisa-'));
const out = join(work, 'pkg');
let result: ConvertResult;
const sessions = new Map<string, ort.InferenceSession>();
const session = async (file: string) => {
  if (!sessions.has(file)) sessions.set(file, await ort.InferenceSession.create(join(out, file)));
  return sessions.get(file)!;
};
/**
 * LISA's inputs, made as its code makes them, with Pillow's 8-bit resize (test/helpers/pillow-resize.ts;
 * the sha256 of both against cases.json is checked below): SAM's longest side to 1024, bilinear,
 * (x − mean)/std, zero-padded; CLIP's shortest side to 224, bicubic, centre crop, x/255, (x − mean)/std.
 * The runtime's views with `roundTo8Bits` must give the same (checked below) and feed the graphs;
 * without it they resize in float and are up to a grey level off.
 */
function samInput(image: string): { data: Float32Array; resized: Uint8Array } {
  const im = rgb(image),
    [H, W] = meta.images[image].sam_resized_hw as number[];
  const resized = pillowResize(im.data, im.height, im.width, H, W, 'bilinear');
  const data = new Float32Array(3 * 1024 * 1024);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) data[(c * 1024 + y) * 1024 + x] = Math.fround(Math.fround(resized[(y * W + x) * 3 + c] - SAM_VIEW.mean[c]) / SAM_VIEW.std[c]);
  return { data, resized };
}
function clipInput(image: string): Float32Array {
  const im = rgb(image),
    short = Math.min(im.width, im.height),
    long = Math.max(im.width, im.height),
    S = CLIP_VIEW.size;
  const n = Math.trunc((S * long) / short),
    [H, W] = im.height <= im.width ? [S, n] : [n, S];
  const r = pillowResize(im.data, im.height, im.width, H, W, 'bicubic');
  const top = Math.floor((H - S) / 2),
    left = Math.floor((W - S) / 2),
    px = new Float32Array(3 * S * S);
  const mean = [0.48145466, 0.4578275, 0.40821073],
    std = [0.26862954, 0.26130258, 0.27577711]; // openai/clip-vit-large-patch14's processor
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++)
        px[(c * S + y) * S + x] = Math.fround(
          Math.fround(Math.fround(r[((y + top) * W + x + left) * 3 + c] * (1 / 255)) - Math.fround(mean[c])) / Math.fround(std[c]),
        );
  return px;
}
const sha = (b: ArrayBufferView) =>
  createHash('sha256')
    .update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
    .digest('hex');

const embeddings = new Map<string, Float32Array>();
async function samEmbedding(image: string): Promise<Float32Array> {
  if (!embeddings.has(image)) {
    const s = await session('sam/encoder.onnx');
    const view = await squareView(rgb(image), { ...SAM_VIEW, roundTo8Bits: true });
    const r = await s.run({ image: new ort.Tensor('float32', view.tensor.data as Float32Array, [1, 3, 1024, 1024]) });
    embeddings.set(image, r.image_embeddings.data as Float32Array);
  }
  return embeddings.get(image)!;
}

beforeAll(async () => {
  const dir = join(work, 'lisa');
  writeLisaTiny(meta, dir, join(import.meta.dirname, '..'));
  result = await convert({
    lisa: join(dir, 'model.safetensors.index.json'),
    clip: join(dir, 'clip-vit-tiny-patch14/model.safetensors'),
    tokenizer: join(dir, 'tokenizer.model'),
    out,
  });
}, 300_000);
afterAll(async () => {
  for (const s of sessions.values()) await s.release();
  rmSync(work, { recursive: true, force: true });
});

describe(`hrseg convert --lisa against LISA's own code (${meta.upstream.commit ?? JSON.stringify(meta.upstream).slice(0, 60)})`, () => {
  it("writes SAM's encoder, both decoders, the VLM and text_hidden_fcs from the checkpoint", () => {
    expect(Object.keys(result.components).sort()).toEqual(['head', 'samEncoder', 'samPromptDecoder', 'tokenizer', 'vlmDecoder', 'vlmEmbeddings', 'vlmVision']);
    expect(result).toMatchObject({ complete: true, missing: [] });
    expect(result.components.head.arch).toMatchObject({ hiddenSize: 32, out: 256, tensors: 4 });
    expect(result.components.vlmDecoder.arch).toMatchObject({ heads: 2, layers: 2, vocab: 644 }); // heads from config.json
  });

  for (const image of Object.keys(meta.images))
    it(`${image}: the inputs made here are LISA's, byte for byte (sha256)`, () => {
      expect(sha(samInput(image).resized)).toBe(meta.images[image].sam_resized_rgb_sha256);
      expect(sha(clipInput(image))).toBe(meta.images[image].clip_pixel_values_sha256);
    });

  for (const image of Object.keys(meta.images))
    it(`${image}: the runtime's SAM and CLIP views with roundTo8Bits are those inputs; without, they are not`, async () => {
      const sam = samInput(image).data,
        clip = clipInput(image);
      const exactSam = await squareView(rgb(image), { ...SAM_VIEW, roundTo8Bits: true });
      const exactClip = await centerCropView(rgb(image), { ...CLIP_VIEW, roundTo8Bits: true });
      // Only the normalisation's float order differs ((x − m)·(1/s) against (x − m)/s, x/255 first).
      expect(relError(exactSam.tensor.data, sam)).toBeLessThan(1e-6);
      expect(relError(exactClip.tensor.data, clip)).toBeLessThan(1e-6);
      const floatSam = await squareView(rgb(image), SAM_VIEW);
      expect(relError(floatSam.tensor.data, sam)).toBeGreaterThan(1e-4);
    });

  for (const image of Object.keys(meta.images))
    it(`${image}: SAM's encoder gives LISA's image embedding (every 8th cell)`, async () => {
      const e = await samEmbedding(image);
      const sub = new Float32Array(256 * 8 * 8);
      for (let c = 0; c < 256; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sub[(c * 8 + y) * 8 + x] = e[c * 4096 + y * 8 * 64 + x * 8];
      expect(relError(sub, f32(meta.images[image].sam_embedding_sub8))).toBeLessThan(1e-4);
    });

  for (const image of Object.keys(meta.images))
    it(`${image}: the CLIP tower and projector give LISA's 256 image tokens`, async () => {
      const s = await session('vlm/vision.onnx');
      const view = await centerCropView(rgb(image), { ...CLIP_VIEW, roundTo8Bits: true });
      const r = await s.run({ pixel_values: new ort.Tensor('float32', view.tensor.data as Float32Array, [1, 3, 224, 224]) });
      expect(relError(r.image_embeds.data as Float32Array, f32(meta.images[image].image_tokens))).toBeLessThan(1e-4);
    });

  for (const c of cases.filter((c) => c.mode === 'teacher-forced'))
    it(`${c.name}: the prompt's ids, the decoder's final hidden states and the [SEG] embedding equal LISA's`, async () => {
      const tok = await VlmTokenizer.load(join(out, 'vlm/tokenizer.json'), join(out, 'vlm/tokenizer_config.json'));
      const [before, after] = c.prompt.split('<image>');
      const ids = [tok.singleToken('<s>'), ...tok.encode(before), -200, ...tok.encode(after)];
      expect(ids).toEqual(c.input_ids);
      // inputs_embeds: the table's rows around the image tokens (LLaVA's prepare_inputs_labels_for_multimodal).
      const emb = openCheckpoint(join(out, 'vlm/embed_tokens.safetensors'));
      const table = emb.get('embed_tokens').float32();
      const H = 32,
        img = f32(meta.images[c.image].image_tokens);
      const rows: Float32Array[] = [];
      for (const id of c.input_ids) rows.push(id === -200 ? img : table.subarray(id * H, (id + 1) * H));
      emb.close();
      const S = rows.reduce((n, r) => n + r.length / H, 0),
        x = new Float32Array(S * H);
      rows.reduce((o, r) => (x.set(r, o), o + r.length), 0);
      expect(S).toBe(c.final_hidden_shape[0]);
      const s = await session('vlm/decoder.onnx');
      const empty = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
      const r = await s.run({
        inputs_embeds: new ort.Tensor('float32', x, [1, S, H]),
        position_ids: new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: S }, (_, i) => BigInt(i)),
          [1, S],
        ),
        'past.0.key': empty,
        'past.0.value': empty,
        'past.1.key': empty,
        'past.1.value': empty,
      });
      const hidden = r.hidden.data as Float32Array;
      expect(relError(hidden, f32(c.final_hidden))).toBeLessThan(1e-4);
      // text_hidden_fcs on the hidden state before [SEG], in float64 from head.safetensors.
      const head = openCheckpoint(join(out, 'head.safetensors'));
      const w = (n: string) => head.get(n).float32();
      const h = hidden.subarray(c.seg_hidden_indices[0] * H, (c.seg_hidden_indices[0] + 1) * H);
      const w1 = w('text_hidden_fcs.0.0.weight'),
        b1 = w('text_hidden_fcs.0.0.bias'),
        w2 = w('text_hidden_fcs.0.2.weight'),
        b2 = w('text_hidden_fcs.0.2.bias');
      const mid = Array.from({ length: H }, (_, o) => Math.max(0, b1[o] + h.reduce((s, v, i) => s + v * w1[o * H + i], 0)));
      const t = Array.from({ length: 256 }, (_, o) => b2[o] + mid.reduce((s, v, i) => s + v * w2[o * H + i], 0));
      head.close();
      expect(relError(t, f32(c.t_seg!).subarray(0, 256))).toBeLessThan(1e-4);
      // The wrong hidden state (at [SEG] itself, not the position before it) misses.
      const at = hidden.subarray((c.seg_hidden_indices[0] + 1) * H, (c.seg_hidden_indices[0] + 2) * H);
      expect(relError(at, h)).toBeGreaterThan(1e-2);
    });

  for (const c of cases.filter((c) => c.mask_logits))
    it(`${c.name}: the decoder prompted by LISA's [SEG] embedding${c.n_seg > 1 ? 's' : ''}, then LISA's postprocess, give its mask logits and masks`, async () => {
      const e = await samEmbedding(c.image);
      const t = f32(c.t_seg!),
        n = t.length / 256;
      const s = await session('sam/prompt-decoder.onnx');
      // One [SEG] per batch item, as LISA runs them (each its own sparse prompt).
      const r = await s.run({ image_embeddings: new ort.Tensor('float32', e, [1, 256, 64, 64]), sparse_embeddings: new ort.Tensor('float32', t, [n, 1, 256]) });
      const { width, height } = meta.images[c.image];
      const logits = lisaMaskLogits(tensor('float32', [n, 1, 256, 256], r.low_res_masks.data as Float32Array), { width, height });
      expect(logits.dims).toEqual(c.mask_logits_shape);
      expect(relError(logits.data, f32(c.mask_logits!))).toBeLessThan(1e-4);
      const want = new Uint8Array(readFileSync(join(FIX, c.mask!)));
      const got = masksFromLogits(logits).data;
      let inter = 0,
        union = 0;
      for (let i = 0; i < want.length; i++) {
        inter += want[i] & got[i];
        union += want[i] | got[i];
      }
      expect(union === 0 ? 1 : inter / union).toBe(1);
    });

  it("multimask output (masks 1..3 instead of mask 0) misses LISA's mask logits", async () => {
    const c = cases.find((c) => c.mask_logits && c.n_seg === 1)!;
    const ck = openCheckpoint(join(work, 'lisa', 'model.safetensors.index.json'));
    const { graph } = buildSamDecoder(ck, { grid: 64, prompt: 'embeddings', multimask: true });
    const s = await ort.InferenceSession.create(graph.encode(17));
    ck.close();
    const r = await s.run({
      image_embeddings: new ort.Tensor('float32', await samEmbedding(c.image), [1, 256, 64, 64]),
      sparse_embeddings: new ort.Tensor('float32', f32(c.t_seg!), [1, 1, 256]),
    });
    await s.release();
    const { width, height } = meta.images[c.image];
    const first = (r.low_res_masks.data as Float32Array).slice(0, 256 * 256); // multimask's first mask: token 1
    expect(relError(lisaMaskLogits(tensor('float32', [1, 256, 256], first), { width, height }).data, f32(c.mask_logits!))).toBeGreaterThan(1e-2);
  });
});

describe("the lisa preset runs the converted checkpoint as LISA's code does", () => {
  let seg: Segmenter;
  beforeAll(async () => {
    seg = await createSegmenter({ model: out, device: 'cpu' });
  }, 120_000);
  afterAll(async () => {
    await seg?.dispose();
  });

  it('the package says lisa: its preset, views, template and modes', async () => {
    const pkg = await readPackage(out);
    expect(pkg.preset).toBe('lisa');
    expect(pkg.views.sam.roundTo8Bits && pkg.views.clip.roundTo8Bits).toBe(true);
    expect(pkg.vlm).toMatchObject({ queryForm: 'chat', mode: 'generate', evalMode: 'teacher-forced', maxNewTokens: 512 });
    expect(pkg.settings['vlm.evalMode']).toEqual({ value: 'teacher-forced', source: 'preset lisa' });
  });

  const check = (c: Case, parts: { mask: Uint8Array; logits?: Float32Array }[]) => {
    expect(parts.length).toBe(c.n_seg);
    if (c.n_seg === 0) return;
    const want = new Uint8Array(readFileSync(join(FIX, c.mask!))),
      logits = f32(c.mask_logits!);
    const plane = want.length / c.n_seg;
    parts.forEach((p, j) => {
      expect(relError(p.logits!, logits.subarray(j * plane, (j + 1) * plane))).toBeLessThan(1e-4);
      let inter = 0,
        union = 0;
      for (let i = 0; i < plane; i++) {
        inter += want[j * plane + i] & p.mask[i];
        union += want[j * plane + i] | p.mask[i];
      }
      expect(union === 0 ? 1 : inter / union).toBe(1);
    });
  };

  for (const c of cases.filter((c) => c.mode === 'teacher-forced'))
    it(`${c.name}: segment() teacher-forced (${c.is_sentence ? 'sentence' : 'phrase'}) gives LISA's mask logits and mask`, async () => {
      const r = await seg.segment(rgb(c.image), c.text!, { form: c.is_sentence ? 'sentence' : 'phrase', mode: 'teacher-forced' });
      expect(r.answer).toBe('[SEG].');
      expect([r.width, r.height]).toEqual([meta.images[c.image].width, meta.images[c.image].height]);
      expect(r.proposals.masks.dims[0]).toBe(0);
      expect(r.segments.every((s) => s.chosen.length === 0 && !s.fallback)).toBe(true);
      check(c, r.segments);
    });

  for (const c of cases.filter((c) => c.mode === 'generate'))
    it(`${c.name}: segmentStream() generating from the typed instruction gives LISA's tokens, then its ${c.n_seg} mask${c.n_seg === 1 ? '' : 's'}`, async () => {
      const ids: number[] = [];
      let result;
      const prepared = await seg.prepare(rgb(c.image));
      expect(prepared.dinoViews).toBe(0);
      expect(prepared.features).toBeUndefined();
      expect(prepared.samEmbedding!.dims).toEqual([1, 256, 64, 64]);
      for await (const e of seg.segmentStream(prepared, c.typed!, { maxNewTokens: c.generated_ids!.length })) {
        if (e.type === 'token') ids.push(e.id);
        if (e.type === 'result') result = e.result;
      }
      prepared.release();
      expect(ids).toEqual(c.generated_ids);
      check(c, result!.segments);
      // The union of the [SEG]s' masks is the result's mask.
      const union = new Uint8Array(result!.mask.length);
      for (const s of result!.segments) s.mask.forEach((v, i) => (union[i] |= v));
      expect(result!.mask).toEqual(union);
    });
});
