/**
 * Random-weight checkpoints at the real architectures' sizes and key layouts (official names), for
 * benchmarks and tests where the real weights cannot be downloaded. Tensors are generated on
 * demand from a seed and their name (the same bytes every time), so a 2.5 GB SAM-H costs nothing
 * until a graph builder asks for its tensors, one at a time.
 */
import { HrsegError } from '../errors.js';
import type { ByteSource } from '../checkpoint/source.js';
import { openCheckpoint } from '../checkpoint/index.js';
import { CheckpointTensor, TensorMap, type Checkpoint } from '../checkpoint/tensor.js';

export const RANDOM_ARCHS = [
  'sam-vit-b',
  'sam-vit-l',
  'sam-vit-h',
  'dinov2-vits14',
  'dinov2-vitb14',
  'dinov2-vitl14',
  'dinov2-vitg14',
  'dinov2-vitl14-reg',
  'llm-seg-7b',
] as const;
export type RandomArch = (typeof RANDOM_ARCHS)[number];

type Kind = 'weight' | 'bias' | 'norm' | 'small';

/** One tensor's bytes, made when read: uniform ±1/√fan_in for weights, 1 for norm scales, small values else. */
class GeneratedSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly name: string,
    private readonly numel: number,
    private readonly kind: Kind,
    private readonly fanIn: number,
  ) {
    this.size = numel * 4;
  }
  bytes(offset: number, length: number): Uint8Array {
    const out = new Float32Array(this.numel);
    let s = 2166136261;
    for (let i = 0; i < this.name.length; i++) s = Math.imul(s ^ this.name.charCodeAt(i), 16777619) >>> 0;
    const scale = this.kind === 'weight' ? 1 / Math.sqrt(this.fanIn) : this.kind === 'norm' ? 0.1 : 0.02;
    for (let i = 0; i < this.numel; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const u = (s / 4294967296) * 2 - 1;
      out[i] = this.kind === 'norm' ? 1 + scale * u : scale * u;
    }
    return new Uint8Array(out.buffer).subarray(offset, offset + length);
  }
  release(): void {}
  close(): void {}
}

class Builder {
  readonly tensors = new Map<string, CheckpointTensor>();
  /** Prepended to every name (LLM-Seg's DeepSpeed file nests everything under one). */
  prefix = '';
  add(name: string, shape: number[], kind: Kind = 'weight'): void {
    const numel = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? numel / shape[0] : 1;
    name = this.prefix + name;
    this.tensors.set(name, new CheckpointTensor(name, 'F32', shape, new GeneratedSource(name, numel, kind, fanIn), 0));
  }
  linear(name: string, out: number, inDim: number, bias = true): void {
    this.add(`${name}.weight`, [out, inDim]);
    if (bias) this.add(`${name}.bias`, [out], 'bias');
  }
  norm(name: string, dim: number): void {
    this.add(`${name}.weight`, [dim], 'norm');
    this.add(`${name}.bias`, [dim], 'bias');
  }
}

const SAM = {
  'sam-vit-b': { dim: 768, depth: 12, global: [2, 5, 8, 11] },
  'sam-vit-l': { dim: 1024, depth: 24, global: [5, 11, 17, 23] },
  'sam-vit-h': { dim: 1280, depth: 32, global: [7, 15, 23, 31] },
} as const;

const DINO = {
  'dinov2-vits14': { dim: 384, depth: 12, registers: 0, swiglu: false },
  'dinov2-vitb14': { dim: 768, depth: 12, registers: 0, swiglu: false },
  'dinov2-vitl14': { dim: 1024, depth: 24, registers: 0, swiglu: false },
  'dinov2-vitg14': { dim: 1536, depth: 40, registers: 0, swiglu: true },
  'dinov2-vitl14-reg': { dim: 1024, depth: 24, registers: 4, swiglu: false },
} as const;

/** SAM (build_sam.py): image encoder at 1024 (14² windows), prompt encoder, mask decoder. */
function sam(b: Builder, spec: { dim: number; depth: number; global: readonly number[] }): void {
  const { dim: D } = spec,
    hd = 64,
    G = 64;
  b.add('image_encoder.patch_embed.proj.weight', [D, 3, 16, 16]);
  b.add('image_encoder.patch_embed.proj.bias', [D], 'bias');
  b.add('image_encoder.pos_embed', [1, G, G, D], 'small');
  for (let i = 0; i < spec.depth; i++) {
    const p = `image_encoder.blocks.${i}`;
    b.norm(`${p}.norm1`, D);
    b.linear(`${p}.attn.qkv`, 3 * D, D);
    b.linear(`${p}.attn.proj`, D, D);
    const L = spec.global.includes(i) ? 2 * G - 1 : 27;
    b.add(`${p}.attn.rel_pos_h`, [L, hd], 'small');
    b.add(`${p}.attn.rel_pos_w`, [L, hd], 'small');
    b.norm(`${p}.norm2`, D);
    b.linear(`${p}.mlp.lin1`, 4 * D, D);
    b.linear(`${p}.mlp.lin2`, D, 4 * D);
  }
  b.add('image_encoder.neck.0.weight', [256, D, 1, 1]);
  b.norm('image_encoder.neck.1', 256);
  b.add('image_encoder.neck.2.weight', [256, 256, 3, 3]);
  b.norm('image_encoder.neck.3', 256);
  const C = 256;
  b.add('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix', [2, C / 2], 'norm');
  for (let i = 0; i < 4; i++) b.add(`prompt_encoder.point_embeddings.${i}.weight`, [1, C], 'small');
  b.add('prompt_encoder.not_a_point_embed.weight', [1, C], 'small');
  b.add('prompt_encoder.no_mask_embed.weight', [1, C], 'small');
  b.add('mask_decoder.iou_token.weight', [1, C], 'small');
  b.add('mask_decoder.mask_tokens.weight', [4, C], 'small');
  const attn = (p: string, internal: number) => {
    for (const n of ['q_proj', 'k_proj', 'v_proj']) b.linear(`${p}.${n}`, internal, C);
    b.linear(`${p}.out_proj`, C, internal);
  };
  for (let i = 0; i < 2; i++) {
    const p = `mask_decoder.transformer.layers.${i}`;
    attn(`${p}.self_attn`, C);
    attn(`${p}.cross_attn_token_to_image`, C / 2);
    attn(`${p}.cross_attn_image_to_token`, C / 2);
    b.linear(`${p}.mlp.lin1`, 2048, C);
    b.linear(`${p}.mlp.lin2`, C, 2048);
    for (const n of [1, 2, 3, 4]) b.norm(`${p}.norm${n}`, C);
  }
  attn('mask_decoder.transformer.final_attn_token_to_image', C / 2);
  b.norm('mask_decoder.transformer.norm_final_attn', C);
  b.add('mask_decoder.output_upscaling.0.weight', [C, C / 4, 2, 2]);
  b.add('mask_decoder.output_upscaling.0.bias', [C / 4], 'bias');
  b.norm('mask_decoder.output_upscaling.1', C / 4);
  b.add('mask_decoder.output_upscaling.3.weight', [C / 4, C / 8, 2, 2]);
  b.add('mask_decoder.output_upscaling.3.bias', [C / 8], 'bias');
  for (let i = 0; i < 4; i++) {
    b.linear(`mask_decoder.output_hypernetworks_mlps.${i}.layers.0`, C, C);
    b.linear(`mask_decoder.output_hypernetworks_mlps.${i}.layers.1`, C, C);
    b.linear(`mask_decoder.output_hypernetworks_mlps.${i}.layers.2`, C / 8, C);
  }
  b.linear('mask_decoder.iou_prediction_head.layers.0', 256, C);
  b.linear('mask_decoder.iou_prediction_head.layers.1', 256, 256);
  b.linear('mask_decoder.iou_prediction_head.layers.2', 4, 256);
}

/** DINOv2 (vision_transformer.py) at img_size 518: a 37² position table. */
function dino(b: Builder, spec: { dim: number; depth: number; registers: number; swiglu: boolean }): void {
  const { dim: D } = spec;
  b.add('cls_token', [1, 1, D], 'small');
  b.add('pos_embed', [1, 1 + 37 * 37, D], 'small');
  b.add('mask_token', [1, D], 'small');
  if (spec.registers) b.add('register_tokens', [1, spec.registers, D], 'small');
  b.add('patch_embed.proj.weight', [D, 3, 14, 14]);
  b.add('patch_embed.proj.bias', [D], 'bias');
  const hidden = spec.swiglu ? (Math.floor((4 * D * 2) / 3) + 7) & ~7 : 4 * D;
  for (let i = 0; i < spec.depth; i++) {
    const p = `blocks.${i}`;
    b.norm(`${p}.norm1`, D);
    b.linear(`${p}.attn.qkv`, 3 * D, D);
    b.linear(`${p}.attn.proj`, D, D);
    b.add(`${p}.ls1.gamma`, [D], 'norm');
    b.norm(`${p}.norm2`, D);
    if (spec.swiglu) {
      b.linear(`${p}.mlp.w12`, 2 * hidden, D);
      b.linear(`${p}.mlp.w3`, D, hidden);
    } else {
      b.linear(`${p}.mlp.fc1`, hidden, D);
      b.linear(`${p}.mlp.fc2`, D, hidden);
    }
    b.add(`${p}.ls2.gamma`, [D], 'norm');
  }
  b.norm('norm', D);
}

/** LLaMA (Hugging Face names) with peft 0.4's unmerged LoRA on q_proj and v_proj, as LLM-Seg saved it. */
function llama(b: Builder, spec: { hidden: number; intermediate: number; layers: number; vocab: number; loraRank: number }): void {
  const { hidden: H, intermediate: I } = spec;
  b.add('model.embed_tokens.weight', [spec.vocab, H], 'small');
  for (let i = 0; i < spec.layers; i++) {
    const p = `model.layers.${i}`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
      b.add(`${p}.self_attn.${n}.weight`, [H, H]);
      if (spec.loraRank && (n === 'q_proj' || n === 'v_proj')) {
        b.add(`${p}.self_attn.${n}.lora_A.default.weight`, [spec.loraRank, H]);
        b.add(`${p}.self_attn.${n}.lora_B.default.weight`, [H, spec.loraRank], 'small');
      }
    }
    b.add(`${p}.mlp.gate_proj.weight`, [I, H]);
    b.add(`${p}.mlp.up_proj.weight`, [I, H]);
    b.add(`${p}.mlp.down_proj.weight`, [H, I]);
    b.add(`${p}.input_layernorm.weight`, [H], 'norm');
    b.add(`${p}.post_attention_layernorm.weight`, [H], 'norm');
  }
  b.add('model.norm.weight', [H], 'norm');
  b.add('lm_head.weight', [spec.vocab, H]);
}

/** CLIP's vision tower (transformers' names), as LLaVA nests it, and LLaVA v1's linear projector. */
function clipVision(b: Builder, spec: { dim: number; depth: number; patch: number; size: number; hidden: number }): void {
  const { dim: D } = spec,
    p = 'model.vision_tower.vision_tower.vision_model.';
  b.add(`${p}embeddings.class_embedding`, [D], 'small');
  b.add(`${p}embeddings.patch_embedding.weight`, [D, 3, spec.patch, spec.patch]);
  b.add(`${p}embeddings.position_embedding.weight`, [1 + (spec.size / spec.patch) ** 2, D], 'small');
  b.norm(`${p}pre_layrnorm`, D);
  for (let i = 0; i < spec.depth; i++) {
    const l = `${p}encoder.layers.${i}`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) b.linear(`${l}.self_attn.${n}`, D, D);
    b.norm(`${l}.layer_norm1`, D);
    b.norm(`${l}.layer_norm2`, D);
    b.linear(`${l}.mlp.fc1`, 4 * D, D);
    b.linear(`${l}.mlp.fc2`, D, 4 * D);
  }
  b.norm(`${p}post_layernorm`, D);
  b.linear('model.mm_projector', spec.hidden, D);
}

/** LLM-Seg's mask-selection head at its real widths (LS model/LISA.py:38-121; SPEC section 7). */
function llmSegHead(b: Builder, spec: { hidden: number; feature: number; d: number; blocks: number; mlp: number }): void {
  const { d } = spec;
  b.add('model.lisa_dino_conv.weight', [d, spec.feature, 1, 1]);
  b.add('model.lisa_dino_conv.bias', [d], 'bias');
  b.linear('model.text_hidden_fcs.0.0', spec.hidden, spec.hidden);
  b.linear('model.text_hidden_fcs.0.2', d, spec.hidden);
  const attn = (p: string) => {
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) b.linear(`${p}.${n}`, d, d);
  };
  for (let i = 0; i < spec.blocks; i++) {
    const p = `model.lisa_attention_layers.${i}`;
    attn(`${p}.self_attn`);
    attn(`${p}.cross_attn_token_to_image`);
    attn(`${p}.cross_attn_image_to_token`);
    b.linear(`${p}.mlp.lin1`, spec.mlp, d);
    b.linear(`${p}.mlp.lin2`, d, spec.mlp);
    for (const n of [1, 2, 3, 4]) b.norm(`${p}.norm${n}`, d);
  }
  attn('model.lisa_final_attn');
  b.norm('model.lisa_norm_final_attn', d);
  b.linear('model.lisa_iou_head.0', d / 2, d);
  b.linear('model.lisa_iou_head.2', 1, d / 2);
  b.linear('model.lisa_embedding_head.0', spec.mlp, d);
  b.linear('model.lisa_embedding_head.2', d, spec.mlp);
}

/**
 * LLM-Seg's DeepSpeed checkpoint at its real sizes (CHECKPOINTS.md): LLaMA-7B (vocabulary 32004,
 * LoRA r 8 unmerged), CLIP ViT-L/14 at 224 with the linear projector, DINOv2 ViT-L/14 under
 * visual_model_dinov2, and the head; everything under peft's `base_model.model.` prefix.
 */
function llmSeg7b(b: Builder): void {
  b.prefix = 'base_model.model.';
  llama(b, { hidden: 4096, intermediate: 11008, layers: 32, vocab: 32004, loraRank: 8 });
  clipVision(b, { dim: 1024, depth: 24, patch: 14, size: 224, hidden: 4096 });
  llmSegHead(b, { hidden: 4096, feature: 1024, d: 256, blocks: 2, mlp: 2048 });
  b.prefix = 'base_model.model.model.visual_model_dinov2.';
  dino(b, DINO['dinov2-vitl14']);
  b.prefix = '';
}

/**
 * Whole words of the random tokenizer (and punctuation, which was <unk> before): the LLaVA
 * template's, common English and the instructions' usual words. A letter-level vocabulary made
 * prompts ~3× longer than LLaMA's SentencePiece (the benchmark's 17-word question was 71 tokens,
 * ~22 in LLaMA's), and the decoder's time per instruction with them; with these, English comes
 * out at about LLaMA's rate.
 */
const RANDOM_TOKENIZER_WORDS = `. , ? ! ' " : ; - ( ) /
a an the and or but if of to in on at by for with from as into onto over under
between about after before above below up down out off through during without within near next
is are was were be been being am do does did done have has had will would can could should may
might must shall i you he she it we they me him her us them my your his its our their this that
these those what which who whom whose where when why how all any each every some no not only
very more most much many few other such same own than then so too just also there here again
once please thank yes one two three four five first last left right top bottom front back side
middle center chat curious human artificial intelligence assistant gives helpful detailed polite
answers answer questions question user output segmentation segment mask masks image picture
photo scene object objects thing things part region area person people man woman child boy girl
dog cat bird horse car bus truck bike bicycle table chair sofa bed door window wall floor tree
sky water food cake knife fork spoon cup bottle plate bowl phone book bag hand hands head face
use used using cut cutting hold holding eat eating drink sit sitting stand standing wear wearing
look looking find show tell give make take see put open close keep play ride read write carry
would like want need help think know something someone anything where used big small large little
long short tall high low old new young red green blue yellow white black brown orange pink gray`
  .split(/\s+/)
  .filter((w, i, all) => w && all.indexOf(w) === i);

/**
 * A tokenizer.json for random LLaMA packages: 32000 WordPiece tokens (the special three, the
 * letters and their continuations, whole common words, then filler words), so prompts tokenize,
 * ids stay in range and an English instruction is about as many tokens as in LLaMA's vocabulary.
 * Not LLaMA's vocabulary: the weights are random too.
 */
export function randomTokenizerJson(size = 32000): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  let n = 3;
  for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789') {
    vocab[c] = n++;
    vocab[`##${c}`] = n++;
  }
  for (const w of RANDOM_TOKENIZER_WORDS) if (!(w in vocab)) vocab[w] = n++;
  for (let w = 0; n < size; w++) vocab[`w${w}`] = n++;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    post_processor: null,
    added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({
      id,
      content,
      special: true,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '<unk>', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

export function randomCheckpoint(arch: string): Checkpoint {
  const b = new Builder();
  if (arch in SAM) sam(b, SAM[arch as keyof typeof SAM]);
  else if (arch in DINO) dino(b, DINO[arch as keyof typeof DINO]);
  else if (arch === 'llm-seg-7b') llmSeg7b(b);
  else throw new HrsegError('INVALID_ARGUMENT', `--random: unknown architecture '${arch}' (one of ${RANDOM_ARCHS.join(', ')})`);
  return new TensorMap(`random:${arch}`, 'random', b.tensors, [], { random: 'true', arch });
}

/** LLaMA-7B's widths (hidden 4096, MLP 11008, vocabulary 32004, no LoRA) with `layers` layers: the decoder benchmark's model. */
export function randomLlama7b(layers = 32): Checkpoint {
  const b = new Builder();
  llama(b, { hidden: 4096, intermediate: 11008, layers, vocab: 32004, loraRank: 0 });
  return new TensorMap(`random:llama-7b-${layers}l`, 'random', b.tensors, [], { random: 'true', arch: 'llama-7b', layers: String(layers) });
}

/** A checkpoint file, or `random:<arch>` (RANDOM_ARCHS) for generated weights at that architecture. */
export function openSource(source: string): Checkpoint {
  return source.startsWith('random:') ? randomCheckpoint(source.slice('random:'.length)) : openCheckpoint(source);
}
