import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { tensor, type Tensor } from '../lib/tensor.js';
import { LLAVA_V1_TEMPLATE, VlmRunner, VlmTokenizer, renderPrompt, segStatePositions, type VlmContext } from '../lib/vlm/index.js';
import { COLOURS, TINY_VLM } from '../scripts/models/tiny-vlm.js';
import { relError } from './helpers/random.js';
import { writeTinyVlm } from './helpers/tiny-vlm-files.js';

const dir = mkdtempSync(join(tmpdir(), 'hrseg-vlm-'));
const files = writeTinyVlm(join(dir, 'vlm'));
let runner: VlmRunner;
let ctx: VlmContext;
const image = { data: new Uint8Array(40 * 30 * 3).fill(90), width: 40, height: 30 };

beforeAll(async () => {
  runner = await VlmRunner.load(files);
  ctx = await runner.prepare(image);
});
afterAll(async () => {
  await runner?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** Which colour word h_seg names (the tiny model carries it in dims colourMean .. +8). */
function colourOf(seg: Tensor<'float32'>, row = 0): string {
  const H = TINY_VLM.hidden;
  const dims = Array.from(seg.data.subarray(row * H + TINY_VLM.colourMean, row * H + TINY_VLM.colourMean + 8));
  const best = dims.indexOf(Math.max(...dims));
  return dims[best] > 0 ? COLOURS[best] : 'none';
}

describe('conversation template', () => {
  const system =
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";
  it('renders LLaVA v1 exactly (sentence, phrase, teacher-forced)', () => {
    expect(renderPrompt(LLAVA_V1_TEMPLATE, 'Where would I sit?', 'sentence')).toBe(
      `${system} USER: <im_start><image><im_end>\nWhere would I sit? Please output segmentation mask. ASSISTANT:`,
    );
    expect(renderPrompt(LLAVA_V1_TEMPLATE, 'the red cup', 'phrase')).toBe(
      `${system} USER: <im_start><image><im_end>\nWhat is the red cup in this image? Please output segmentation mask. ASSISTANT:`,
    );
    expect(renderPrompt(LLAVA_V1_TEMPLATE, 'the cup', 'phrase', '[SEG].')).toBe(
      `${system} USER: <im_start><image><im_end>\nWhat is the cup in this image? Please output segmentation mask. ASSISTANT: [SEG].</s>`,
    );
    expect(renderPrompt({ ...LLAVA_V1_TEMPLATE, useImStartEnd: false }, 'x', 'sentence')).toContain('USER: <image>\nx Please');
    expect(() => renderPrompt(LLAVA_V1_TEMPLATE, '   ', 'sentence')).toThrow(/instruction is empty/);
  });
});

describe('tokenizer', () => {
  it('keeps [SEG], <im_start>, <im_end> and <image> as single tokens and round-trips text', async () => {
    const tok = await VlmTokenizer.load(files.tokenizer, files.tokenizerConfig);
    const seg = tok.singleToken('[SEG]');
    expect(tok.encode('It is [SEG].')).toEqual([tok.singleToken('It'), tok.singleToken('is'), seg, tok.singleToken('.')]);
    expect(tok.encode('<im_start><image><im_end>')).toEqual(['<im_start>', '<image>', '<im_end>'].map((t) => tok.singleToken(t)));
    for (const text of ['It is [SEG].', 'the red shape', 'What is zebra42 in this image?', 'Sure, it is the green one.'])
      expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.decode(tok.encode('It is [SEG].'), true)).toBe('It is.');
  });

  it('refuses a tokenizer without [SEG] and unreadable files', async () => {
    const json = JSON.parse(JSON.stringify((await import('../scripts/models/tiny-vlm.js')).tinyTokenizerJson()));
    json.added_tokens = json.added_tokens.filter((t: { content: string }) => t.content !== '[SEG]');
    delete json.model.vocab['[SEG]'];
    const path = join(dir, 'noseg.json');
    writeFileSync(path, JSON.stringify(json));
    await expect(VlmRunner.load({ ...files, tokenizer: path })).rejects.toMatchObject({ code: 'MODEL_FILE', message: /no token '\[SEG\]'/ });
    await expect(VlmTokenizer.load(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'MODEL_FILE' });
    writeFileSync(join(dir, 'broken.json'), '{ not json');
    await expect(VlmTokenizer.load(join(dir, 'broken.json'))).rejects.toMatchObject({ code: 'MODEL_FILE', message: /not valid JSON/ });
  });
});

describe('[SEG] position rule', () => {
  it('takes the state one before each [SEG]', () => {
    const S = 7;
    expect(segStatePositions([1, 2, 3, S, 4], S)).toEqual([2]);
    expect(segStatePositions([1, S, 2, S, S], S)).toEqual([0, 2, 3]);
    expect(segStatePositions([S, 1, 2], S)).toEqual([]); // a [SEG] at position 0 has no predicting state
    expect(segStatePositions([], S)).toEqual([]);
  });
});

describe('VLM runner on the tiny model', () => {
  it('answers "It is [SEG]." and h_seg names the instruction colour', async () => {
    for (const colour of ['red', 'green', 'blue', 'yellow']) {
      const a = await runner.answer(ctx, `the ${colour} shape`, { form: 'phrase' });
      expect(a.text).toBe('It is [SEG].');
      expect(a.stop).toBe('eos');
      expect(a.seg.dims).toEqual([1, TINY_VLM.hidden]);
      expect(colourOf(a.seg)).toBe(colour);
    }
  });

  it('streams tokens as they come', async () => {
    const parts: string[] = [];
    const it = runner.stream(ctx, 'Which one is blue?');
    for (;;) {
      const n = await it.next();
      if (n.done) {
        expect(n.value.text).toBe(parts.join(''));
        break;
      }
      parts.push(n.value.text);
    }
    expect(parts.length).toBe(4);
  });

  it('cached generation equals full recomputation (tokens, logits, hidden states)', async () => {
    const a = await runner.answer(ctx, 'Segment the green thing', { trace: true });
    const suffix = runner.suffixIds('Segment the green thing', 'sentence');
    const H = runner.hiddenSize;
    for (let t = 0; t < a.trace!.length; t++) {
      const seqIds = [...suffix, ...a.tokenIds.slice(0, t)];
      const tail = runner.embeddings.gather(seqIds);
      const all = new Float32Array((ctx.length + seqIds.length) * H);
      all.set(ctx.embeddings.data);
      all.set(tail.data, ctx.length * H);
      const full = await runner.forward(tensor('float32', [1, ctx.length + seqIds.length, H], all));
      const n = ctx.length + seqIds.length,
        V = full.logits.dims[2];
      expect(relError(a.trace![t].logits, full.logits.data.subarray((n - 1) * V, n * V)), `step ${t} logits`).toBeLessThan(1e-5);
      expect(relError(a.trace![t].hidden, full.hidden.data.subarray((n - 1) * H, n * H)), `step ${t} hidden`).toBeLessThan(1e-5);
    }
  });

  it('the prefix cache gives the same h_seg as a fresh run', async () => {
    const cached = [await runner.answer(ctx, 'the red shape'), await runner.answer(ctx, 'the blue shape')];
    for (const [q, c] of [
      ['the red shape', cached[0]],
      ['the blue shape', cached[1]],
    ] as const) {
      const fresh = await runner.answer(await runner.prepare(image), q);
      expect(relError(c.seg.data, fresh.seg.data)).toBeLessThan(1e-6);
    }
  });

  it('teacher-forced evaluation takes h_seg at the position before [SEG]', async () => {
    const a = await runner.answer(ctx, 'the yellow shape', { mode: 'teacher-forced', form: 'phrase' });
    expect(a.text).toBe('[SEG].');
    expect(a.seg.dims).toEqual([1, TINY_VLM.hidden]);
    expect(colourOf(a.seg)).toBe('yellow');
    // Against one uncached pass over the whole sequence.
    const ids = runner.suffixIds('the yellow shape', 'phrase', '[SEG].');
    const at = ids.indexOf(runner.tokenizer.singleToken('[SEG]'));
    const H = runner.hiddenSize;
    const all = new Float32Array((ctx.length + ids.length) * H);
    all.set(ctx.embeddings.data);
    all.set(runner.embeddings.gather(ids).data, ctx.length * H);
    const full = await runner.forward(tensor('float32', [1, ctx.length + ids.length, H], all));
    const p = ctx.length + at - 1;
    expect(relError(a.seg.data, full.hidden.data.subarray(p * H, (p + 1) * H))).toBeLessThan(1e-5);
  });

  it('a model that never emits [SEG]: no h_seg, the answer text kept; the token limit', async () => {
    const noSeg = await VlmRunner.load(writeTinyVlm(join(dir, 'noseg'), { emitSeg: false }));
    const a = await noSeg.answer(await noSeg.prepare(image), 'the red shape');
    expect(a.text).toBe('It is.');
    expect(a.seg.dims).toEqual([0, TINY_VLM.hidden]);
    await noSeg.dispose();
    const limited = await runner.answer(ctx, 'the red shape', { maxNewTokens: 2 });
    expect(limited).toMatchObject({ text: 'It is', stop: 'limit' });
    expect(limited.seg.dims[0]).toBe(0);
  });

  it('stops between steps when aborted', async () => {
    const controller = new AbortController();
    const run = runner.answer(ctx, 'the red shape', { signal: controller.signal, onToken: () => controller.abort() });
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('a decoder without a key/value cache is refused', async () => {
    const { GraphBuilder } = await import('../lib/onnx/graph.js');
    const g = new GraphBuilder();
    g.input('inputs_embeds', 'float', [1, 'S', TINY_VLM.hidden]);
    g.input('position_ids', 'int64', [1, 'S']);
    g.op('Identity', ['inputs_embeds'], {}, ['hidden']);
    g.op('Identity', ['inputs_embeds'], {}, ['logits']);
    g.output('logits', 'float', [1, 'S', TINY_VLM.hidden]);
    g.output('hidden', 'float', [1, 'S', TINY_VLM.hidden]);
    const path = join(dir, 'nocache.onnx');
    writeFileSync(path, g.encode());
    const error = await VlmRunner.load({ ...files, decoder: path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HrsegError);
    expect((error as HrsegError).message).toMatch(/no past\.\{i\}\.key inputs/);
  });
});
