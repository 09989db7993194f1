/**
 * The LISA prompt's token ids on the real LLaMA vocabulary. The reference is transformers 4.29's
 * slow LlamaTokenizer as LISA and LLM-Seg used it (CHECKPOINTS.md), written out here: the text is
 * split at added and special tokens, the neighbours of tokens added as plain strings (<im_start>,
 * <im_end>, [SEG]) are stripped of whitespace (the newline after <im_end> goes), and each piece is
 * encoded by sentencepiece with its dummy prefix — sentencepiece being llama-tokenizer-js, a JS port
 * of LLaMA's tokenizer.model (vocabulary and merges) checked against sentencepiece by its authors.
 * The runtime side is a Hugging Face tokenizer.json built from that same vocabulary, passed
 * through hrseg's converter (which appends LISA's tokens) and loaded by the runtime's tokenizer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import llamaTokenizer from 'llama-tokenizer-js';
import { afterAll, describe, expect, it } from 'vitest';

import { prepareTokenizer } from '../lib/convert/tokenizer.js';
import { PRESET_VALUES } from '../lib/package/presets.js';
import { VlmTokenizer } from '../lib/vlm/tokenizer.js';
import { LLAVA_V1_TEMPLATE, renderPrompt, type ConversationTemplate } from '../lib/vlm/template.js';

const work = mkdtempSync(join(tmpdir(), 'hrseg-llama-tok-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** LLaMA's tokenizer as Hugging Face's fast tokenizer.json describes it (BPE, byte fallback, ▁ for spaces). */
function llamaTokenizerJson(): object {
  const t = llamaTokenizer as unknown as { vocabById: string[]; merges: Map<string, number> };
  const merges = [...t.merges.entries()].sort((a, b) => a[1] - b[1]).map(([m]) => m);
  const special = (id: number) => ({ id, content: t.vocabById[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0), special(1), special(2)],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab: Object.fromEntries(t.vocabById.map((p, i) => [p, i])),
      merges,
    },
  };
}

const ADDED: Record<string, number> = { '<im_patch>': 32000, '<im_start>': 32001, '<im_end>': 32002, '[SEG]': 32003 };
const SPECIAL: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };

/** transformers 4.29's slow LlamaTokenizer.tokenize + convert_tokens_to_ids, for these tokens. */
function slowIds(text: string): number[] {
  const parts = text.split(/(<im_patch>|<im_start>|<im_end>|\[SEG\]|<s>|<\/s>|<unk>)/);
  parts.forEach((p, i) => {
    if (!(p in ADDED)) return;
    if (i > 0) parts[i - 1] = parts[i - 1].trimEnd();
    if (i + 1 < parts.length) parts[i + 1] = parts[i + 1].trimStart();
  });
  return parts.flatMap((p) => (p in ADDED ? [ADDED[p]] : p in SPECIAL ? [SPECIAL[p]] : p ? llamaTokenizer.encode(p, false, true) : []));
}

describe('the LISA prompt on the real LLaMA vocabulary', () => {
  it("the converter's tokenizer gives the slow LlamaTokenizer's ids (both forms, both templates, teacher-forced and not)", async () => {
    writeFileSync(join(work, 'base.json'), JSON.stringify(llamaTokenizerJson()));
    const { json, added } = prepareTokenizer(join(work, 'base.json'), 32004);
    expect(added).toEqual(['<im_patch>', '<im_start>', '<im_end>', '[SEG]', '<image>']);
    writeFileSync(join(work, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(join(work, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
    const tok = await VlmTokenizer.load(join(work, 'tokenizer.json'), join(work, 'tokenizer_config.json'));
    // Plain text first: the tokenizer.json is the same BPE as sentencepiece.
    for (const s of ['A chat between a curious human', 'What is the knife in this image?', 'naïve café — 東京 🍰'])
      expect(tok.encode(s), s).toEqual(llamaTokenizer.encode(s, false, true));
    const llmSeg = { ...LLAVA_V1_TEMPLATE, ...PRESET_VALUES['llm-seg'].vlm!.template } as ConversationTemplate;
    const queries: [string, 'sentence' | 'phrase'][] = [
      ['the thing you would use to cut this cake', 'phrase'],
      ['What part of the car should be checked when the engine overheats?', 'sentence'],
      ['the animal that could pull a sled', 'phrase'],
      ["If I'm hungry, what in this picture could I eat first?", 'sentence'],
    ];
    let compared = 0;
    for (const template of [LLAVA_V1_TEMPLATE, llmSeg])
      for (const [q, form] of queries)
        for (const answer of [undefined, '[SEG].']) {
          const prompt = renderPrompt(template, q, form, answer);
          const [before, after] = prompt.split('<image>');
          // LLaVA's tokenizer_image_token: each chunk tokenized on its own, BOS kept once.
          const want = [1, ...slowIds(before), -200, ...slowIds(after)];
          const got = [1, ...tok.encode(before), -200, ...tok.encode(after)];
          expect(got, `${form}: ${q} (${template === llmSeg ? 'llm-seg' : 'llava v1'}${answer ? ', forced' : ''})`).toEqual(want);
          compared++;
        }
    expect(compared).toBe(16);
    // The newline after <im_end> is dropped, as the slow tokenizer drops it.
    expect(tok.encode('<im_end>\nWhat')).toEqual([32002, ...llamaTokenizer.encode('What', false, true)]);
    // A base file that already holds LLaVA's tokens with a fast tokenizer's default flags gets the same ids.
    const base = llamaTokenizerJson() as { added_tokens: object[] };
    for (const [content, id] of Object.entries(ADDED).slice(0, 3))
      base.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    writeFileSync(join(work, 'llava.json'), JSON.stringify(base));
    const again = prepareTokenizer(join(work, 'llava.json'), 32004);
    expect(again.added).toEqual(['[SEG]', '<image>']);
    writeFileSync(join(work, 'tokenizer2.json'), JSON.stringify(again.json));
    const tok2 = await VlmTokenizer.load(join(work, 'tokenizer2.json'), join(work, 'tokenizer_config.json'));
    const p = renderPrompt(llmSeg, queries[0][0], 'phrase', '[SEG].').split('<image>')[1];
    expect(tok2.encode(p)).toEqual(slowIds(p));
  });
});
