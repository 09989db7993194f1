/**
 * A tiny LLaVA-shaped VLM package (DESIGN.md's vlm/* contracts) whose behaviour is known by
 * construction, for the reasoning runner's tests and the demo model:
 *
 * - tokenizer.json: WordPiece over the template's words, colour and shape words, and single
 *   letters/digits (so any ASCII word round-trips), with [SEG], <im_start>, <im_end>, <image>,
 *   <s>, </s> as added special tokens.
 * - vision.onnx: the 224² CLIP view averaged over 56² cells (16 image tokens), projected to H.
 * - decoder.onnx: one attention layer with a KV cache. Attention is uniform over the causal
 *   context and carries only the colour-word dimensions, so the final-norm hidden state at any
 *   position holds the share of each colour word in the context so far. The logits read only a
 *   "state" one-hot of the current token, a bigram table that always answers "It is [SEG] ." and
 *   then </s> after the prompt's final ":". `emitSeg: false` builds a variant that answers
 *   "It is ." (no [SEG]); `endless: true` one that repeats the phrase until the token limit.
 * - embed_tokens.safetensors: the embedding table [V, H].
 *
 * So h_seg (the hidden state at "is", which predicts [SEG]) names the colour of the instruction:
 * its largest value among dims COLOUR_MEAN .. COLOUR_MEAN + 8 is the colour word used.
 */
import { encodeSafetensors, f32 } from '../../lib/safetensors.js';
import { GraphBuilder } from '../../lib/onnx/graph.js';

export const COLOURS = ['red', 'green', 'blue', 'yellow', 'cyan', 'magenta', 'white', 'orange'] as const;
export const TINY_VLM = Object.freeze({
  hidden: 48,
  imageSize: 224,
  imageTokens: 16,
  /** Dims [8, 16): which colour word a token is. Dims [16, 24): the causal mean of those. */
  colourWord: 8,
  colourMean: 16,
});

const SPECIAL = ['<unk>', '<s>', '</s>', '[SEG]', '<im_start>', '<im_end>', '<image>'];
const WORDS = [
  ...'A chat between a curious human and an artificial intelligence assistant . The gives helpful , detailed polite answers to the \' s questions USER : ASSISTANT Please output segmentation mask What is in this image ? It Sure'.split(
    ' ',
  ),
  ...COLOURS,
  ...'shape thing square rectangle one object region which box left right top bottom big small'.split(' '),
];
const LETTERS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'];

export function tinyVocab(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const t of [...SPECIAL, ...WORDS, ...LETTERS, ...LETTERS.map((c) => `##${c}`)])
    if (!seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  return out;
}

export function tinyTokenizerJson(): object {
  const vocab = tinyVocab();
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content) => ({
      id: vocab.indexOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '<unk>',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

export function tinyTokenizerConfig(): object {
  return { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', clean_up_tokenization_spaces: true, model_max_length: 2048 };
}

/** State one-hots drive the bigram answer: ':' → It → is → [SEG] → . → </s>. */
const STATES: Record<string, number> = { ':': 1, It: 2, is: 3, '[SEG]': 4, '.': 5 };

export function tinyEmbeddings(): Float32Array {
  const vocab = tinyVocab();
  const H = TINY_VLM.hidden;
  const table = new Float32Array(vocab.length * H);
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  vocab.forEach((t, v) => {
    const row = table.subarray(v * H, (v + 1) * H);
    row[STATES[t] ?? 0] = 1;
    const colour = (COLOURS as readonly string[]).indexOf(t);
    if (colour >= 0) row[TINY_VLM.colourWord + colour] = 1;
    for (let d = 24; d < H; d++) row[d] = 0.1 * rand(); // makes every token's embedding distinct
  });
  return table;
}

export function tinyEmbeddingsFile(): Buffer {
  const vocab = tinyVocab();
  return encodeSafetensors({ 'model.embed_tokens.weight': f32([vocab.length, TINY_VLM.hidden], tinyEmbeddings()) });
}

export function tinyVision(): Uint8Array {
  const { hidden: H, imageSize: s, imageTokens: T } = TINY_VLM;
  const g = new GraphBuilder();
  const x = g.input('pixel_values', 'float', [1, 3, s, s]);
  const pooled = g.op('AveragePool', [x], { kernel_shape: [56, 56], strides: [56, 56] });
  const tokens = g.op('Transpose', [g.op('Reshape', [pooled, g.int64('shape_1x3xT', [1, 3, T])])], { perm: [0, 2, 1] });
  const w = new Float32Array(3 * H);
  for (let c = 0; c < 3; c++) w[c * H + 24 + c] = 0.5; // into the "other" dims: image tokens carry no colour word
  g.op('MatMul', [tokens, g.float('vision_proj', [3, H], w)], {}, ['image_embeds']);
  g.output('image_embeds', 'float', [1, T, H]);
  return g.encode();
}

/** `endless`: "." is followed by "It" again instead of </s> (for the per-token benchmark). */
export function tinyDecoder(options: { emitSeg?: boolean; endless?: boolean } = {}): Uint8Array {
  const emitSeg = options.emitSeg ?? true;
  const vocab = tinyVocab();
  const V = vocab.length, H = TINY_VLM.hidden;
  const g = new GraphBuilder();
  const x = g.input('inputs_embeds', 'float', [1, 'S', H]);
  const pos = g.input('position_ids', 'int64', [1, 'S']);
  const pastK = g.input('past.0.key', 'float', [1, 1, 'P', H]);
  const pastV = g.input('past.0.value', 'float', [1, 1, 'P', H]);

  const wk = new Float32Array(H * H); // keys are zero: every allowed position scores the same
  const wv = new Float32Array(H * H);
  for (let c = 0; c < 8; c++) wv[(TINY_VLM.colourWord + c) * H + TINY_VLM.colourMean + c] = 1;
  const k = g.op('Unsqueeze', [g.op('MatMul', [x, g.float('wk', [H, H], wk)]), g.int64('ax1', [1])]);
  const v = g.op('Unsqueeze', [g.op('MatMul', [x, g.float('wv', [H, H], wv)]), g.int64('ax1b', [1])]);
  const presentK = g.op('Concat', [pastK, k], { axis: 2 }, ['present.0.key']);
  const presentV = g.op('Concat', [pastV, v], { axis: 2 }, ['present.0.value']);
  // Causal mask from positions: key j (its index in the cached sequence) is visible to a query at
  // position p when j <= p.
  const total = g.op('Gather', [g.op('Shape', [presentK]), g.int64('idx2', [2], [])], { axis: 0 });
  const keyPos = g.op('Range', [g.int64('zero', [0], []), total, g.int64('one', [1], [])]);
  const visible = g.op('LessOrEqual', [
    g.op('Reshape', [keyPos, g.int64('shape_11T', [1, 1, -1])]),
    g.op('Unsqueeze', [pos, g.int64('ax2', [2])]),
  ]);
  const scores = g.op('Where', [visible, g.float('zero_f', [], [0]), g.float('neg', [], [-1e9])]);
  const probs = g.op('Softmax', [scores], { axis: -1 });
  const values = g.op('Squeeze', [presentV, g.int64('ax1c', [1])]);
  const h = g.op('Add', [x, g.op('MatMul', [probs, values])]);
  const ms = g.op('ReduceMean', [g.op('Mul', [h, h])], { axes: [-1], keepdims: 1 }); // opset 17: axes is an attribute
  const hidden = g.op('Div', [h, g.op('Sqrt', [g.op('Add', [ms, g.float('eps', [], [1e-6])])])], {}, ['hidden']);
  const wout = new Float32Array(H * V); // [H, V]: logits = hidden · wout
  const set = (token: string, state: number) => (wout[state * V + vocab.indexOf(token)] = 10);
  set('It', STATES[':']);
  set('is', STATES.It);
  if (emitSeg) {
    set('[SEG]', STATES.is);
    set('.', STATES['[SEG]']);
  } else {
    set('.', STATES.is);
  }
  set(options.endless ? 'It' : '</s>', STATES['.']);
  set('</s>', 0);
  g.op('MatMul', [hidden, g.float('lm_head', [H, V], wout)], {}, ['logits']);
  g.output('logits', 'float', [1, 'S', V]);
  g.output('hidden', 'float', [1, 'S', H]);
  g.output('present.0.key', 'float', [1, 1, 'T', H]);
  g.output('present.0.value', 'float', [1, 1, 'T', H]);
  return g.encode();
}
