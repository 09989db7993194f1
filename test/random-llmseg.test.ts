/**
 * `hrseg convert --random llm-seg-7b` (lib/convert/random.ts): the generated checkpoint has LLM-Seg's
 * DeepSpeed layout at the real sizes (CHECKPOINTS.md), as the converter's own readers see it. Only
 * names and shapes are read here: the 7B package itself (9.5 GB, 5 minutes) is built by
 * `npm run bench:pipeline`, not in CI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { dinoArch } from '../lib/convert/dinov2.js';
import { headNames } from '../lib/convert/head.js';
import { llamaArch } from '../lib/convert/llama.js';
import { mergeLora } from '../lib/convert/lora.js';
import { randomCheckpoint, randomLlama7b, randomTokenizerJson } from '../lib/convert/random.js';
import { prepareTokenizer, RANDOM_TOKENIZER } from '../lib/convert/tokenizer.js';
import { VlmTokenizer } from '../lib/vlm/tokenizer.js';

describe('random:llm-seg-7b', () => {
  const raw = randomCheckpoint('llm-seg-7b');
  const { checkpoint: ck, lora } = mergeLora(raw, 16);

  it("LLaMA-7B with LoRA r 8 on q_proj and v_proj of every layer, under peft's prefix", () => {
    expect(lora).toMatchObject({ pairs: 64, rank: 8 });
    expect(llamaArch(ck)).toMatchObject({
      prefix: 'base_model.model.model.',
      hidden: 4096,
      layers: 32,
      heads: 32,
      kvHeads: 32,
      intermediate: 11008,
      vocab: 32004,
    });
    expect(ck.get('base_model.model.lm_head.weight').shape).toEqual([32004, 4096]);
  });

  it('CLIP ViT-L/14 at 224 and the linear projector, DINOv2 ViT-L/14 without registers, the head at its widths', () => {
    const clip = 'base_model.model.model.vision_tower.vision_tower.vision_model.';
    expect(ck.get(`${clip}embeddings.position_embedding.weight`).shape).toEqual([257, 1024]);
    expect(ck.keys().filter((k) => k.startsWith(`${clip}encoder.layers.`) && k.endsWith('.mlp.fc1.weight'))).toHaveLength(24);
    expect(ck.get('base_model.model.model.mm_projector.weight').shape).toEqual([4096, 1024]);
    expect(dinoArch(ck)).toMatchObject({ prefix: 'base_model.model.model.visual_model_dinov2.', dim: 1024, depth: 24, patch: 14, registers: 0 });
    const h = headNames(ck);
    expect(h.get('hrp.input_proj.weight')!.shape).toEqual([256, 1024, 1, 1]);
    expect(h.get('text_hidden_fcs.0.0.weight')!.shape).toEqual([4096, 4096]);
    expect(h.get('text_hidden_fcs.0.2.weight')!.shape).toEqual([256, 4096]);
    expect(h.get('fusion.layers.1.mlp.lin1.weight')!.shape).toEqual([2048, 256]);
    expect(h.get('iop_head.layers.1.weight')!.shape).toEqual([1, 128]);
    expect(h.get('embed_head.layers.0.weight')!.shape).toEqual([2048, 256]);
    expect(h.has('fusion.layers.2.norm1.weight')).toBe(false);
  });

  it('tensors are the same bytes on every read and differ between names', () => {
    const a = randomLlama7b(1).get('model.layers.0.input_layernorm.weight').float32().slice();
    const b = randomLlama7b(1).get('model.layers.0.input_layernorm.weight').float32();
    const c = randomLlama7b(1).get('model.layers.0.post_attention_layernorm.weight').float32();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it("its stand-in tokenizer takes LISA's four tokens at 32000-32003 and is the default for random:llm-seg-7b", () => {
    expect(Object.keys((randomTokenizerJson() as { model: { vocab: object } }).model.vocab)).toHaveLength(32000);
    const t = prepareTokenizer(RANDOM_TOKENIZER, 32004);
    expect(t.json.added_tokens!.filter((a) => a.id >= 32000).map((a) => [a.content, a.id])).toEqual([
      ['<im_patch>', 32000],
      ['<im_start>', 32001],
      ['<im_end>', 32002],
      ['[SEG]', 32003],
      ['<image>', 32004],
    ]);
  });

  it('its stand-in tokenizer makes about a token a word of an English instruction, as LLaMA does (not a token a letter)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hrseg-random-tok-'));
    try {
      const t = prepareTokenizer(RANDOM_TOKENIZER, 32004);
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t.json));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(t.config));
      const tok = await VlmTokenizer.load(join(dir, 'tokenizer.json'), join(dir, 'tokenizer_config.json'));
      // 17 words and 2 stops; LLaMA's SentencePiece makes ~22 tokens of it.
      const ids = tok.encode('What in this picture would you use to cut a cake? Please output the segmentation mask.');
      expect(ids.length).toBeGreaterThanOrEqual(17);
      expect(ids.length).toBeLessThanOrEqual(24);
      expect(ids).not.toContain(0); // no <unk>
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
