/**
 * A LLaMA decoder (transformers modeling_llama.py, as LISA and LLM-Seg run it) → the package's
 * `vlm/decoder.onnx` with its key/value-cache contract: inputs_embeds [1, S, H], position_ids
 * [1, S], past.{i}.key / past.{i}.value [1, heads, P, hd] → logits [1, S, V], hidden [1, S, H] (after
 * the final norm: h_seg is read from it), present.{i}.key / present.{i}.value [1, heads, P + S, hd].
 *
 * RMSNorm x·rsqrt(mean(x²) + eps)·w; rotary positions in the rotate_half convention from the
 * position ids (θ 10000, cos/sin of position·inv_freq in float32 as transformers computes them);
 * causal attention over the cache (key j is visible to a query at position p when j ≤ p: the cache
 * holds positions 0 … P−1); SiLU-gated MLP; untied lm_head. Grouped-query attention (LLaMA-2-70B,
 * LLaMA-3 and most current LLaMA-family models: k_proj/v_proj with fewer heads than q_proj) keeps
 * the cache at the key/value head count; query head h reads key/value head ⌊h / (heads/kvHeads)⌋,
 * as transformers' repeat_kv does, computed as a batched product per group (the keys and values
 * are not copied per query head). Keys are Hugging Face's under any
 * prefix (LLM-Seg's `base_model.model.model.`, after LoRA merging); Meta's original layout is not
 * read. One graph serves prefill and decode (S and P symbolic), so TensorRT can build both profiles
 * from it.
 */
import { HrsegError } from '../errors.js';
import type { Checkpoint, CheckpointTensor } from '../checkpoint/index.js';
import { GraphBuilder } from '../onnx/graph.js';
import { f32Init, linearT } from './ops.js';
import { quantizedWeight, type QuantBits, type QuantizeOptions } from './quantize.js';

/** The linear layers `quantize` applies to (lm_head only when asked). */
export const QUANTIZED_LAYERS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

export interface LlamaOptions {
  /**
   * Weight-only quantization of q, k, v, o, gate, up and down (quantize.ts); lm_head too, at
   * `lmHead` bits, when given (default: left in float, see README "Quantized decoders").
   */
  quantize?: QuantizeOptions & { lmHead?: QuantBits };
  /** Attention heads (default hidden/128, LLaMA 7B/13B). */
  heads?: number;
  /** RMSNorm epsilon (1e-6 for LLaMA-1 / LISA-7B, 1e-5 for LLaMA-2: read the model's config). */
  eps?: number;
  /** RoPE base (10000). */
  theta?: number;
}

export interface LlamaArch {
  prefix: string;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  eps: number;
  theta: number;
}

export function llamaArch(ck: Checkpoint, options: LlamaOptions = {}): LlamaArch {
  const emb = ck.keys().find((k) => /(^|\.)embed_tokens\.weight$/.test(k) && ck.has(k.replace(/embed_tokens\.weight$/, 'layers.0.self_attn.q_proj.weight')));
  if (!emb)
    throw new HrsegError('MODEL_FILE', `${ck.path}: no embed_tokens.weight beside layers.0.self_attn.q_proj: not a LLaMA (Hugging Face names) checkpoint`);
  const prefix = emb.slice(0, emb.length - 'embed_tokens.weight'.length);
  const [vocab, hidden] = ck.get(emb).shape;
  let layers = 0;
  while (ck.has(`${prefix}layers.${layers}.self_attn.q_proj.weight`)) layers++;
  const heads = options.heads ?? hidden / 128;
  if (!Number.isInteger(heads) || hidden % heads)
    throw new HrsegError('MODEL_FILE', `${ck.path}: hidden ${hidden} does not split into ${heads} heads; give the head count`);
  const headDim = hidden / heads;
  const kvRows = ck.get(`${prefix}layers.0.self_attn.k_proj.weight`).shape[0];
  const kvHeads = kvRows / headDim;
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads)
    throw new HrsegError(
      'MODEL_FILE',
      `${ck.path}: k_proj has ${kvRows} rows, not a whole number of key/value heads of ${headDim} that divides ${heads} heads; give the head count`,
    );
  const intermediate = ck.get(`${prefix}layers.0.mlp.gate_proj.weight`).shape[0];
  return { prefix, hidden, layers, heads, kvHeads, headDim, intermediate, vocab, eps: options.eps ?? 1e-6, theta: options.theta ?? 10000 };
}

/** The lm_head: `lm_head.weight` beside the model (untied in LLaMA). */
function lmHead(ck: Checkpoint, a: LlamaArch): CheckpointTensor {
  const candidates = [a.prefix.replace(/model\.$/, '') + 'lm_head.weight', 'lm_head.weight'];
  const k = candidates.find((c) => ck.has(c)) ?? ck.keys().find((c) => c.endsWith('lm_head.weight'));
  if (!k) throw new HrsegError('MODEL_FILE', `${ck.path}: no lm_head.weight`);
  return ck.get(k);
}

export function buildLlama(ck: Checkpoint, options: LlamaOptions = {}): { graph: GraphBuilder; arch: LlamaArch } {
  const a = llamaArch(ck, options);
  const { hidden: H, heads, kvHeads: kvh, headDim: hd, intermediate: I, vocab: V } = a;
  const group = heads / kvh;
  const KV = kvh * hd;
  const g = new GraphBuilder();
  const t = (n: string) => ck.get(a.prefix + n);
  const x = g.input('inputs_embeds', 'float', [1, 'S', H]);
  const pos = g.input('position_ids', 'int64', [1, 'S']);
  const rms = (v: string, w: CheckpointTensor, name: string) => {
    // A quantized graph is opset 21 (DequantizeLinear's block_size), where ReduceMean takes its
    // axes as an input (since 18); the float graph stays opset 17.
    const sq = g.op('Mul', [v, v]);
    const ms = options.quantize
      ? g.op('ReduceMean', [sq, g.int64(g.tmp('axes'), [-1])], { keepdims: 1 })
      : g.op('ReduceMean', [sq], { axes: [-1], keepdims: 1 });
    const inv = g.op('Div', [g.float(g.tmp('one'), [], [1]), g.op('Sqrt', [g.op('Add', [ms, g.float(g.tmp('eps'), [], [a.eps])])])]);
    return g.op('Mul', [g.op('Mul', [v, inv]), f32Init(g, `${name}.weight`, w, [H])]);
  };
  const q = options.quantize;
  const weightT = (name: string, w: CheckpointTensor, out: number, inDim: number, bits: QuantBits | undefined) => {
    if (!q || !bits) return linearT(g, `${name}.T`, w, out, inDim);
    w.expectShape([out, inDim]);
    // INT8 per output channel: TensorRT dequantizes INT8 per tensor or per channel, never in blocks.
    return quantizedWeight(
      g,
      name,
      () => w.float32(),
      out,
      inDim,
      { ...q, bits, ...(bits === 8 ? { blockSize: 'channel' as const } : {}) },
      () => w.release(),
    );
  };
  const lin = (v: string, name: string, w: CheckpointTensor, out: number, inDim: number) => g.op('MatMul', [v, weightT(name, w, out, inDim, q?.bits)]);
  // Rotary tables for these positions: cos/sin [1, 1, S, hd] of position·inv_freq, halves repeated.
  const invFreq = Float32Array.from({ length: hd / 2 }, (_, i) => 1 / a.theta ** ((2 * i) / hd));
  const freqs = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [pos], { to: 1 }), g.int64('ax_last', [2])]), g.float('inv_freq', [hd / 2], invFreq)]); // [1, S, hd/2]
  const emb = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.int64('ax_heads', [1])]); // [1, 1, S, hd]
  const cos = g.op('Cos', [emb]),
    sin = g.op('Sin', [emb]);
  const rope = (v: string) => {
    const x1 = g.op('Slice', [v, g.int64(g.tmp('r0'), [0]), g.int64(g.tmp('r1'), [hd / 2]), g.int64(g.tmp('rax'), [3])]);
    const x2 = g.op('Slice', [v, g.int64(g.tmp('r2'), [hd / 2]), g.int64(g.tmp('r3'), [hd]), g.int64(g.tmp('rax'), [3])]);
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: 3 });
    return g.op('Add', [g.op('Mul', [v, cos]), g.op('Mul', [rotated, sin])]);
  };
  const split = (v: string, n: number) => g.op('Transpose', [g.op('Reshape', [v, g.int64(g.tmp('heads'), [1, -1, n, hd])])], { perm: [0, 2, 1, 3] }); // [1, n, S, hd]
  // [1, a, b, x] → [1, n, -1, x]: query heads of a group are consecutive, so [1, heads, S, x] and
  // [1, kvh, group·S, x] hold the same numbers in the same order. (Reshape's 0 keeps dimension 3.)
  const regroup = (v: string, n: number) => g.op('Reshape', [v, g.int64(g.tmp('grp'), [1, n, -1, 0])]);
  const scale = g.float('attn_scale', [], [1 / Math.sqrt(hd)]);
  const minus = g.float('masked', [], [-3.4028234663852886e38]);
  let h = x;
  let visible: string | undefined;
  for (let i = 0; i < a.layers; i++) {
    const p = `layers.${i}.`;
    const y = rms(h, t(p + 'input_layernorm.weight'), `l${i}.ln1`);
    const q = rope(split(lin(y, `l${i}.q`, t(p + 'self_attn.q_proj.weight'), H, H), heads));
    const k = rope(split(lin(y, `l${i}.k`, t(p + 'self_attn.k_proj.weight'), KV, H), kvh));
    const v = split(lin(y, `l${i}.v`, t(p + 'self_attn.v_proj.weight'), KV, H), kvh);
    const pastK = g.input(`past.${i}.key`, 'float', [1, kvh, 'P', hd]);
    const pastV = g.input(`past.${i}.value`, 'float', [1, kvh, 'P', hd]);
    const keys = g.op('Concat', [pastK, k], { axis: 2 }, [`present.${i}.key`]);
    const values = g.op('Concat', [pastV, v], { axis: 2 }, [`present.${i}.value`]);
    g.output(`present.${i}.key`, 'float', [1, kvh, 'T', hd]);
    g.output(`present.${i}.value`, 'float', [1, kvh, 'T', hd]);
    if (!visible) {
      // Key j (its place in the cache) is visible to a query at position p when j <= p: [1, 1, S, T].
      const total = g.op('Gather', [g.op('Shape', [keys]), g.int64('idx2', [2], [])], { axis: 0 });
      const keyPos = g.op('Range', [g.int64('zero', [0], []), total, g.int64('one_i', [1], [])]);
      visible = g.op('LessOrEqual', [g.op('Reshape', [keyPos, g.int64('shape_11T', [1, 1, 1, -1])]), g.op('Unsqueeze', [pos, g.int64('ax_q', [1, 3])])]);
    }
    const keysT = g.op('Transpose', [keys], { perm: [0, 1, 3, 2] });
    let raw: string;
    if (group === 1) raw = g.op('MatMul', [q, keysT]);
    else {
      // [1, kvh, group·S, hd] × [1, kvh, hd, T] → [1, kvh, group·S, T] → [1, heads, S, T]
      raw = regroup(g.op('MatMul', [regroup(q, kvh), keysT]), heads);
    }
    const scores = g.op('Where', [visible, g.op('Mul', [raw, scale]), minus]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const ctx = group === 1 ? g.op('MatMul', [probs, values]) : regroup(g.op('MatMul', [regroup(probs, kvh), values]), heads);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.int64(g.tmp('merge'), [1, -1, H])]);
    h = g.op('Add', [h, lin(merged, `l${i}.o`, t(p + 'self_attn.o_proj.weight'), H, H)]);
    const z = rms(h, t(p + 'post_attention_layernorm.weight'), `l${i}.ln2`);
    const gate = lin(z, `l${i}.gate`, t(p + 'mlp.gate_proj.weight'), I, H);
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    h = g.op('Add', [h, lin(g.op('Mul', [silu, lin(z, `l${i}.up`, t(p + 'mlp.up_proj.weight'), I, H)]), `l${i}.down`, t(p + 'mlp.down_proj.weight'), H, I)]);
  }
  const final = rms(h, t('norm.weight'), 'norm');
  g.op('Identity', [final], {}, ['hidden']);
  g.op('MatMul', [final, weightT('lm_head', lmHead(ck, a), V, H, q?.lmHead)], {}, ['logits']);
  g.output('logits', 'float', [1, 'S', V]);
  g.output('hidden', 'float', [1, 'S', H]);
  return { graph: g, arch: a };
}
