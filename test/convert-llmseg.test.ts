/**
 * Converting LLM-Seg's DeepSpeed checkpoint: LoRA merged into the base weights (both peft
 * layouts), and the mask-selection head mapped to head.safetensors, on a tiny file in the real
 * layout written by torch.save (scripts/fixtures/make_llmseg_checkpoint.py).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { parseSafetensors } from '../lib/checkpoint/safetensors-reader.js';
import { BufferSource } from '../lib/checkpoint/source.js';
import { headSafetensors } from '../lib/convert/head.js';
import { mergeLora } from '../lib/convert/lora.js';
import { Head, resolveHeadConfig, tensor } from '../lib/index.js';
import * as ref from './reference/head-reference.js';
import { freshSeed, makeRng, relError, uniform } from './helpers/random.js';

const FILE = join(import.meta.dirname, 'fixtures/llmseg/mp_rank_00_model_states.pt');

/** A base tokenizer of 60 tokens (WordPiece over letters): the converter appends LISA's four. */
function writeTinyTokenizer(file: string): void {
  const letters = [...'abcdefghijklmnopqrstuvwxyz'];
  const vocab = ['<unk>', '<s>', '</s>', ...letters, ...letters.map((c) => `##${c}`), '.', ',', '?', ':', "'"];
  expect(vocab).toHaveLength(60);
  writeFileSync(
    file,
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      post_processor: null,
      added_tokens: [0, 1, 2].map((id) => ({ id, content: vocab[id], special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: {
        type: 'WordPiece',
        unk_token: '<unk>',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      },
    }),
  );
}
const P = 'base_model.model.';

describe("LLM-Seg's DeepSpeed checkpoint", () => {
  it('LoRA is merged as W + (α/r)·B·A into both peft layouts; the LoRA tensors are hidden', () => {
    const raw = openCheckpoint(FILE);
    const { checkpoint: ck, lora } = mergeLora(raw, 16);
    expect(lora).toEqual({ pairs: 4, rank: 4, alpha: 16 });
    expect(ck.keys().some((k) => k.includes('lora_') || k.includes('base_layer'))).toBe(false);
    for (const [layer, base] of [
      [0, 'self_attn.q_proj.base_layer.weight'],
      [1, 'self_attn.q_proj.weight'],
      [1, 'self_attn.v_proj.weight'],
    ] as const) {
      const L = `${P}model.layers.${layer}.`;
      const proj = base.split('.')[1];
      const W = raw.get(L + base).float32(),
        A = raw.get(`${L}self_attn.${proj}.lora_A.default.weight`).float32(),
        B = raw.get(`${L}self_attn.${proj}.lora_B.default.weight`).float32();
      const want = new Float64Array(32 * 32);
      for (let o = 0; o < 32; o++)
        for (let i = 0; i < 32; i++) {
          let s = 0;
          for (let k = 0; k < 4; k++) s += B[o * 4 + k] * A[k * 32 + i];
          want[o * 32 + i] = W[o * 32 + i] + (16 / 4) * s;
        }
      const got = ck.get(`${L}self_attn.${proj}.weight`).float32();
      expect(relError(got, want), `${layer} ${proj}`).toBeLessThan(1e-6);
      expect(relError(got, W)).toBeGreaterThan(1e-2); // the merge changed it
    }
    expect(Array.from(ck.get(`${P}model.layers.0.self_attn.k_proj.weight`).float32())).toEqual(
      Array.from(raw.get(`${P}model.layers.0.self_attn.k_proj.weight`).float32()),
    );
    ck.close();
  });

  it('the mask-selection head maps to head.safetensors (bf16 kept) and runs as the float64 reference', async () => {
    const ck = openCheckpoint(FILE);
    const bytes = headSafetensors(ck, 'mp_rank_00_model_states.pt');
    const { tensors } = parseSafetensors(new BufferSource(new Uint8Array(bytes), 'head.safetensors'));
    // One to one, values and types unchanged.
    for (const [ours, theirs] of [
      ['hrp.input_proj.weight', 'model.lisa_dino_conv.weight'],
      ['fusion.layers.1.norm4.weight', 'model.lisa_attention_layers.1.norm4.weight'],
      ['fusion.final_attn_token_to_image.out_proj.bias', 'model.lisa_final_attn.out_proj.bias'],
      ['iop_head.layers.1.weight', 'model.lisa_iou_head.2.weight'],
      ['embed_head.layers.0.bias', 'model.lisa_embedding_head.0.bias'],
      ['text_hidden_fcs.0.2.weight', 'model.text_hidden_fcs.0.2.weight'],
    ]) {
      const t = tensors.get(ours)!;
      expect(t.dtype, ours).toBe('BF16');
      expect(Buffer.from(t.bytes()).equals(Buffer.from(ck.get(P + theirs).bytes())), ours).toBe(true);
    }
    expect([...tensors.keys()].some((k) => k.startsWith('hrp.region_attn') || k.startsWith('hre.'))).toBe(false);
    // The llm-seg preset's head (no HRP, no HRE) at this file's widths loads it and computes the reference.
    const c = resolveHeadConfig({
      featureDim: 64,
      dim: 16,
      globalGrid: 4,
      hrp: false,
      hreLayers: 0,
      hiddenSize: 32,
      fusionHeads: 4,
      fusionMlpDim: 32,
      iopHidden: 8,
      embedHidden: 24,
      selection: { strategy: 'iop-threshold', tau: 0.5, fallback: 'none' },
    });
    const head = await Head.load(bytes, c);
    const seed = freshSeed(),
      rng = makeRng(seed);
    const fg = uniform(rng, 16 * 64),
      masks = new Uint8Array(3 * 20 * 20).map(() => (rng() < 0.4 ? 1 : 0));
    const image = await head.imageStep({ globalFeatures: tensor('float32', [16, 64], fg), proposals: tensor('uint8', [3, 20, 20], masks) });
    const hSeg = uniform(rng, 32);
    const got = await head.instructionStep(image, tensor('float32', [1, 32], hSeg));
    const w: ref.Weights = Object.fromEntries([...tensors].map(([k, t]) => [k, { shape: [...t.shape], data: t.float32() }]));
    const wantImage = ref.imageStep(fg, undefined, masks, 3, 20, 20, c, w);
    expect(relError(image.mHre.data, wantImage.mHre), `seed ${seed}`).toBeLessThan(1e-5);
    const want = ref.instructionStep(image.mHre.data, 3, hSeg, c, w);
    expect(relError(got.iop.data, want.iop), `seed ${seed}`).toBeLessThan(1e-5);
    expect(relError(got.text.data, want.text), `seed ${seed}`).toBeLessThan(1e-5);
    head.dispose();
    ck.close();
  });
});

describe('hrseg convert --llmseg: a whole package from the DeepSpeed file', () => {
  it('converts the VLM, DINOv2 and head with the llm-seg preset, and the package loads and segments', async () => {
    const { mkdtempSync, rmSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { dirname } = await import('node:path');
    const { convert } = await import('../lib/convert/convert.js');
    const { readPackage } = await import('../lib/package/manifest.js');
    const { createSegmenter } = await import('../lib/segmenter.js');
    const { demoPackage, demoScene } = await import('./helpers/demo.js');
    const work = mkdtempSync(join(tmpdir(), 'hrseg-llmseg-'));
    const base = demoPackage();
    try {
      writeTinyTokenizer(join(work, 'tokenizer.json'));
      const out = join(work, 'pkg');
      const r = await convert({ llmseg: FILE, tokenizer: join(work, 'tokenizer.json'), base, out, llamaHeads: 2 });
      expect(r.complete).toBe(true);
      expect(Object.keys(r.components).sort()).toEqual(['dinoEncoder', 'head', 'tokenizer', 'vlmDecoder', 'vlmEmbeddings', 'vlmVision']);
      expect(r.components.tokenizer.arch).toEqual({ added: ['<im_patch>', '<im_start>', '<im_end>', '[SEG]', '<image>'] });
      expect([r.components.vlmEmbeddings.precision, r.components.head.precision]).toEqual(['bf16', 'bf16']); // kept as stored
      expect(r.components.vlmDecoder.arch).toMatchObject({ hidden: 32, layers: 2, vocab: 64, lora: { pairs: 4, rank: 4, alpha: 16 } });
      const pkg = await readPackage(out);
      expect(pkg.preset).toBe('llm-seg');
      expect(pkg.views.dino.size).toBe(896);
      expect(pkg.head).toMatchObject({
        hrp: false,
        hreLayers: 0,
        globalGrid: 64,
        featureDim: 64,
        dim: 16,
        hiddenSize: 32,
        fusionMlpDim: 32,
        iopHidden: 8,
        embedHidden: 24,
      });
      expect(pkg.vlm.mode).toBe('teacher-forced');
      const tj = JSON.parse(readFileSync(join(out, 'vlm/tokenizer.json'), 'utf8'));
      expect(tj.added_tokens.find((t: { content: string }) => t.content === '[SEG]').id).toBe(63);
      await using seg = await createSegmenter({ model: out, device: 'cpu' });
      const scene = demoScene();
      const res = await seg.segment({ data: scene.rgb, width: scene.width, height: scene.height, channels: 3 }, 'the red shape', { form: 'phrase' });
      expect(res.answer).toBe('[SEG].');
      expect(res.segments).toHaveLength(1);
      expect(res.mask).toHaveLength(640 * 480);
      // The package's own files against float64 references computed from the DeepSpeed file's tensors.
      const ort = await import('onnxruntime-node');
      const { clipReference } = await import('./reference/vit-reference.js');
      const { llamaReference } = await import('./reference/llama-reference.js');
      const { checkpoint: merged } = mergeLora(openCheckpoint(FILE));
      const seed = freshSeed(),
        rng = makeRng(seed);
      const image = uniform(rng, 3 * 28 * 28, 2);
      const vision = await ort.InferenceSession.create(join(out, 'vlm/vision.onnx'));
      const v = await vision.run({ pixel_values: new ort.Tensor('float32', image, [1, 3, 28, 28]) });
      await vision.release();
      expect(
        relError(
          v.image_embeds.data as Float32Array,
          clipReference(merged, 'base_model.model.model.vision_tower.vision_tower.vision_model.', 'base_model.model.model.mm_projector', image, 1),
        ),
        `seed ${seed}`,
      ).toBeLessThan(1e-4);
      const decoder = await ort.InferenceSession.create(join(out, 'vlm/decoder.onnx'));
      const x = uniform(rng, 4 * 32),
        empty = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
      const d = await decoder.run({
        inputs_embeds: new ort.Tensor('float32', x, [1, 4, 32]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n, 3n]), [1, 4]),
        'past.0.key': empty,
        'past.0.value': empty,
        'past.1.key': empty,
        'past.1.value': empty,
      });
      await decoder.release();
      const want = llamaReference(merged, 'base_model.model.model.', x, [0, 1, 2, 3], 2, 1e-6);
      expect(relError(d.hidden.data as Float32Array, want.hidden), `seed ${seed}`).toBeLessThan(1e-4);
      expect(relError(d.logits.data as Float32Array, want.logits), `seed ${seed}`).toBeLessThan(1e-4);
      merged.close();
      // Too few rows for the tokens: a clear error naming both counts.
      writeFileSync(join(work, 'short.json'), JSON.stringify({ model: { type: 'WordPiece', unk_token: '<unk>', vocab: { '<unk>': 0 } }, added_tokens: [] }));
      await expect(convert({ llmseg: FILE, tokenizer: join(work, 'short.json'), base, out: join(work, 'bad'), llamaHeads: 2 })).rejects.toMatchObject({
        code: 'MODEL_FILE',
        message: /5 tokens .* 64 rows/,
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(dirname(base), { recursive: true, force: true });
    }
  }, 120_000);
});

describe('hrseg convert --llmseg --quantize: the decoder with int8/int4 weights', () => {
  it('records the quantization, writes DequantizeLinear weights (opset 21), stays close to float32 and segments end to end', async () => {
    const { mkdtempSync, rmSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { dirname } = await import('node:path');
    const ort = await import('onnxruntime-node');
    const onnxProto = (await import('onnx-proto')).default as unknown as typeof import('onnx-proto');
    const { convert } = await import('../lib/convert/convert.js');
    const { createSegmenter } = await import('../lib/segmenter.js');
    const { demoPackage, demoScene } = await import('./helpers/demo.js');
    const work = mkdtempSync(join(tmpdir(), 'hrseg-llmseg-q-'));
    const base = demoPackage();
    try {
      writeTinyTokenizer(join(work, 'tokenizer.json'));
      const hidden: Record<string, Float32Array> = {};
      const x = uniform(makeRng(7), 6 * 32),
        empty = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
      for (const q of [undefined, 'int8', 'int4'] as const) {
        const out = join(work, q ?? 'fp32');
        const r = await convert({
          llmseg: FILE,
          tokenizer: join(work, 'tokenizer.json'),
          base,
          out,
          llamaHeads: 2,
          quantize: q,
          ...(q === 'int4' ? { quantizeBlock: 16 } : {}),
        });
        if (q) {
          expect(r.components.vlmDecoder.quantization).toEqual({
            type: q,
            blockSize: q === 'int4' ? 16 : 'channel',
            scheme: 'symmetric',
            layers: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
          });
          const model = onnxProto.onnx.ModelProto.decode(readFileSync(join(out, 'vlm/decoder.onnx')));
          expect(Number(model.opsetImport?.find((o) => !o.domain)?.version)).toBe(21);
          const dq = model.graph!.node!.filter((n) => n.opType === 'DequantizeLinear');
          expect(dq).toHaveLength(2 * 7);
          // int4 in blocks along the input (axis 0, block_size); int8 per output channel (axis 1, no block_size).
          for (const n of dq)
            expect(Object.fromEntries(n.attribute!.map((a) => [a.name, Number(a.i)]))).toEqual(q === 'int4' ? { axis: 0, block_size: 16 } : { axis: 1 });
          await using seg = await createSegmenter({ model: out, device: 'cpu' });
          const scene = demoScene();
          const res = await seg.segment({ data: scene.rgb, width: scene.width, height: scene.height, channels: 3 }, 'the red shape', { form: 'phrase' });
          expect(res.answer).toBe('[SEG].');
          expect(res.segments).toHaveLength(1);
        } else expect(r.components.vlmDecoder.quantization).toBeUndefined();
        const decoder = await ort.InferenceSession.create(join(out, 'vlm/decoder.onnx'));
        const d = await decoder.run({
          inputs_embeds: new ort.Tensor('float32', x, [1, 6, 32]),
          position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n]), [1, 6]),
          'past.0.key': empty,
          'past.0.value': empty,
          'past.1.key': empty,
          'past.1.value': empty,
        });
        await decoder.release();
        hidden[q ?? 'fp32'] = (d.hidden.data as Float32Array).slice(5 * 32);
      }
      const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0) / Math.hypot(...a) / Math.hypot(...b);
      // This tiny random decoder is far more sensitive than a trained one (README "Quantized decoders").
      expect(cos(hidden.int8, hidden.fp32)).toBeGreaterThan(0.99);
      expect(cos(hidden.int4, hidden.fp32)).toBeLessThan(cos(hidden.int8, hidden.fp32));
      await expect(convert({ sam: FILE, out: join(work, 'bad'), quantize: 'int4' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: /applies to the VLM decoder/,
      });
      await expect(
        convert({ llmseg: FILE, tokenizer: join(work, 'tokenizer.json'), out: join(work, 'bad2'), quantize: 'int3' as 'int4' }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(
        convert({ llmseg: FILE, tokenizer: join(work, 'tokenizer.json'), out: join(work, 'bad3'), quantize: 'int8', quantizeBlock: 32 }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /per output channel/ });
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(dirname(base), { recursive: true, force: true });
    }
  }, 180_000);
});

describe('hrseg convert --vlm: a LISA-style sharded checkpoint and a separate CLIP tower', () => {
  it("converts the VLM only (no head in LISA's file) from shards and a separate CLIP; a base head that does not fit is reported", async () => {
    const { mkdtempSync, rmSync, readFileSync, copyFileSync } = await import('node:fs');
    const { createSegmenter } = await import('../lib/segmenter.js');
    const { tmpdir } = await import('node:os');
    const { dirname } = await import('node:path');
    const { convert } = await import('../lib/convert/convert.js');
    const { encodeSafetensors } = await import('../lib/safetensors.js');
    const { demoPackage } = await import('./helpers/demo.js');
    const work = mkdtempSync(join(tmpdir(), 'hrseg-lisa-'));
    const base = demoPackage();
    try {
      // LISA-7B-v1's layout: HF names without peft's prefix, LoRA already merged, two shards and an
      // index; CLIP in openai/clip-vit-large-patch14's names in its own file.
      const { checkpoint: src } = mergeLora(openCheckpoint(FILE));
      const shard = (names: string[]) =>
        encodeSafetensors(
          Object.fromEntries(
            names.map((k) => [
              k.replace(/^base_model\.model\./, '').replace(/^model\.vision_tower\.vision_tower\./, ''),
              { dtype: 'F32' as const, shape: [...src.get(k).shape], data: src.get(k).float32().slice() },
            ]),
          ),
        );
      const llm = src.keys().filter((k) => /model\.(layers|embed_tokens|norm|mm_projector)|lm_head/.test(k) && !k.includes('vision_tower'));
      const half = Math.ceil(llm.length / 2);
      writeFileSync(join(work, 'model-00001-of-00002.safetensors'), shard(llm.slice(0, half)));
      writeFileSync(join(work, 'model-00002-of-00002.safetensors'), shard(llm.slice(half)));
      const weightMap = Object.fromEntries(
        llm.map((k, i) => [k.replace(/^base_model\.model\./, ''), i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']),
      );
      writeFileSync(join(work, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
      writeFileSync(join(work, 'clip.safetensors'), shard(src.keys().filter((k) => k.includes('vision_tower'))));
      copyFileSync(join(base, 'vlm/tokenizer.json'), join(work, 'tokenizer.json')); // any tokenizer: it must fit the table
      const tiny = JSON.parse(readFileSync(join(work, 'tokenizer.json'), 'utf8'));
      const rows = Object.keys(tiny.model.vocab).length;
      await expect(
        convert({ vlm: work, clip: join(work, 'clip.safetensors'), tokenizer: join(work, 'tokenizer.json'), base, out: join(work, 'pkg'), llamaHeads: 2 }),
      ).rejects.toMatchObject({
        code: 'MODEL_FILE',
        message: new RegExp(`the checkpoint's embedding table has 64 rows`),
      });
      expect(rows).toBeGreaterThan(64); // the demo's vocabulary does not fit this table: refused above
      writeTinyTokenizer(join(work, 'tokenizer.json'));
      const out = join(work, 'pkg');
      const r = await convert({ vlm: work, clip: join(work, 'clip.safetensors'), tokenizer: join(work, 'tokenizer.json'), base, out, llamaHeads: 2 });
      expect(Object.keys(r.components).sort()).toEqual(['tokenizer', 'vlmDecoder', 'vlmEmbeddings', 'vlmVision']);
      expect(r.components.vlmEmbeddings.precision).toBe('fp32'); // this file's table was written F32
      expect(r.components.tokenizer.precision).toBeUndefined();
      expect(r.components.vlmVision.source).toMatch(/clip\.safetensors$/);
      expect(r.components.vlmDecoder.arch).toMatchObject({ hidden: 32, lora: { pairs: 0 } });
      const m = JSON.parse(readFileSync(join(out, 'hrseg.json'), 'utf8'));
      expect(m.preset).toBeUndefined();
      expect(m.head.hiddenSize).toBe(32);
      // The base's head was made for another language model: loading says which tensor does not fit.
      await expect(createSegmenter({ model: out, device: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_FILE', message: /text_hidden_fcs\.0\.0\.weight/ });
      src.close();
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(dirname(base), { recursive: true, force: true });
    }
  }, 60_000);
});
