/**
 * DINOv2 (facebookresearch/dinov2 models/vision_transformer.py, layers/block.py) → the package's
 * `dino/encoder.onnx`: pixel_values [V, 3, D, D] → patch_tokens [V, (D/14)², C], the final-norm
 * patch tokens (`x_norm_patchtokens`: class and register tokens dropped).
 *
 * Official and Hugging Face key names are both read (any prefix, e.g. LLM-Seg's
 * `base_model.model.model.visual_model_dinov2.`). The position table is resampled for the view
 * size here, once, exactly as the official code does it at run time: models without registers
 * bicubic with scale_factor (n + 0.1)/M and no antialias; register models (`*_reg`) bicubic to the
 * size with antialias. Heads are dim/64 (every released DINOv2 has 64-wide heads) unless given.
 */
import { HrsegError } from '../errors.js';
import type { Checkpoint, CheckpointTensor } from '../checkpoint/index.js';
import { GraphBuilder } from '../onnx/graph.js';
import { bicubicAntialiasTaps, bicubicScaleTaps, bicubicSizeTaps, resample2d } from './interpolate.js';
import { addBias, f32Init, gelu, layerNorm, linearT } from './ops.js';

export interface DinoArch {
  naming: 'official' | 'hf';
  prefix: string;
  dim: number;
  depth: number;
  heads: number;
  registers: number;
  patch: number;
  /** The stored position table's grid side M (pos_embed is [1, 1 + M², C]). */
  grid: number;
  mlp: 'gelu' | 'swiglu';
  layerScale: boolean;
}

/**
 * How the position table is resampled for the view: the official code's (scale factor (n + 0.1)/M,
 * no antialias, for models without registers), its register models' (bicubic to the size with
 * antialias), or transformers' Dinov2Model's (bicubic to the size, no antialias, no offset).
 */
export type DinoTableMode = 'offset' | 'antialias' | 'size';

export interface DinoOptions {
  /** The view size D (a multiple of the patch size); default 518. */
  viewSize?: number;
  heads?: number;
  /** Override what the registers imply: the +0.1 offset and no antialias (true), or size + antialias (false). */
  interpolateOffset?: boolean;
  /** Overrides interpolateOffset: 'size' reproduces transformers' Dinov2Model (see README). */
  tableMode?: DinoTableMode;
  /**
   * Attention as ONNX Runtime's com.microsoft MultiHeadAttention (its CPU kernel's flash path:
   * no score matrix held, 1.2× the chunked graph's speed at 4,097 tokens) instead of standard
   * operators in chunks. A contrib op TensorRT's parser does not take: only for CPU-only graphs
   * (`--quantize-vision`'s).
   */
  fusedAttention?: boolean;
}

/** Reads the architecture from the weights' names and shapes. */
export function dinoArch(ck: Checkpoint, heads?: number): DinoArch {
  const keys = ck.keys();
  const cls = keys.find((k) => k.endsWith('embeddings.cls_token')) ?? keys.find((k) => k.endsWith('cls_token'));
  if (!cls) throw new HrsegError('MODEL_FILE', `${ck.path}: no DINOv2 cls_token: not a DINOv2 checkpoint`);
  const naming = cls.endsWith('embeddings.cls_token') ? 'hf' : 'official';
  const prefix = cls.slice(0, cls.length - (naming === 'hf' ? 'embeddings.cls_token' : 'cls_token').length);
  const t = (n: string) => ck.get(prefix + n);
  const dim = t(naming === 'hf' ? 'embeddings.cls_token' : 'cls_token').shape.at(-1)!;
  const blockRe = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${naming === 'hf' ? 'encoder\\.layer' : 'blocks'}\\.(\\d+)\\.`);
  let depth = 0;
  for (const k of keys) {
    const m = blockRe.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  if (depth === 0) throw new HrsegError('MODEL_FILE', `${ck.path}: DINOv2 checkpoint without blocks`);
  const posName = naming === 'hf' ? 'embeddings.position_embeddings' : 'pos_embed';
  const pos = t(posName);
  const M = Math.round(Math.sqrt(pos.shape[1] - 1));
  if (pos.shape.length !== 3 || M * M !== pos.shape[1] - 1 || pos.shape[2] !== dim)
    throw new HrsegError('MODEL_FILE', `${pos.label} has shape [${pos.shape.join(', ')}], expected [1, 1 + M², ${dim}]`);
  const regName = prefix + (naming === 'hf' ? 'embeddings.register_tokens' : 'register_tokens');
  const registers = ck.has(regName) ? ck.get(regName).shape[1] : 0;
  const patchW = t(naming === 'hf' ? 'embeddings.patch_embeddings.projection.weight' : 'patch_embed.proj.weight');
  const b0 = naming === 'hf' ? 'encoder.layer.0.' : 'blocks.0.';
  const swiglu = ck.has(prefix + b0 + (naming === 'hf' ? 'mlp.weights_in.weight' : 'mlp.w12.weight'));
  const layerScale = ck.has(prefix + b0 + (naming === 'hf' ? 'layer_scale1.lambda1' : 'ls1.gamma'));
  const h = heads ?? dim / 64;
  if (!Number.isInteger(h) || h < 1 || dim % h !== 0)
    throw new HrsegError('MODEL_FILE', `${ck.path}: width ${dim} does not split into ${heads ?? 'dim/64'} heads; give the head count`);
  return { naming, prefix, dim, depth, heads: h, registers, patch: patchW.shape[2], grid: M, mlp: swiglu ? 'swiglu' : 'gelu', layerScale };
}

/** The block tensors under their official names, whatever the checkpoint calls them. */
function blockTensors(ck: Checkpoint, a: DinoArch, i: number) {
  const p = a.prefix + (a.naming === 'hf' ? `encoder.layer.${i}.` : `blocks.${i}.`);
  const get = (n: string) => ck.get(p + n);
  if (a.naming === 'official')
    return {
      norm1: [get('norm1.weight'), get('norm1.bias')],
      qkv: [[get('attn.qkv.weight')], [get('attn.qkv.bias')]],
      proj: [get('attn.proj.weight'), get('attn.proj.bias')],
      ls1: a.layerScale ? get('ls1.gamma') : undefined,
      norm2: [get('norm2.weight'), get('norm2.bias')],
      fc1: a.mlp === 'gelu' ? [get('mlp.fc1.weight'), get('mlp.fc1.bias')] : [get('mlp.w12.weight'), get('mlp.w12.bias')],
      fc2: a.mlp === 'gelu' ? [get('mlp.fc2.weight'), get('mlp.fc2.bias')] : [get('mlp.w3.weight'), get('mlp.w3.bias')],
      ls2: a.layerScale ? get('ls2.gamma') : undefined,
    };
  // The hub's names (transformers 4), or transformers 5's own (attention.{q,k,v,o}_proj).
  const v5 = ck.has(`${a.prefix}encoder.layer.${i}.attention.q_proj.weight`);
  const qkvs = v5 ? ['q_proj', 'k_proj', 'v_proj'] : ['attention.query', 'attention.key', 'attention.value'];
  const out = v5 ? 'attention.o_proj' : 'attention.output.dense';
  return {
    norm1: [get('norm1.weight'), get('norm1.bias')],
    qkv: [qkvs.map((n) => get(`attention.${n}.weight`)), qkvs.map((n) => get(`attention.${n}.bias`))],
    proj: [get(`${out}.weight`), get(`${out}.bias`)],
    ls1: a.layerScale ? get('layer_scale1.lambda1') : undefined,
    norm2: [get('norm2.weight'), get('norm2.bias')],
    fc1: a.mlp === 'gelu' ? [get('mlp.fc1.weight'), get('mlp.fc1.bias')] : [get('mlp.weights_in.weight'), get('mlp.weights_in.bias')],
    fc2: a.mlp === 'gelu' ? [get('mlp.fc2.weight'), get('mlp.fc2.bias')] : [get('mlp.weights_out.weight'), get('mlp.weights_out.bias')],
    ls2: a.layerScale ? get('layer_scale2.lambda1') : undefined,
  };
}

/** Stacks [out_i, in] weights (or [out_i] biases) along the output dimension. */
function stacked(parts: CheckpointTensor[]): () => Float32Array {
  return () => {
    const arrays = parts.map((p) => p.float32());
    const out = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of arrays) out.set(x, (o += x.length) - x.length);
    return out;
  };
}

/** The position table for a D×D view: [1, 1 + n², C], resampled as the official code would. */
export function positionTable(ck: Checkpoint, a: DinoArch, viewSize: number, mode: DinoTableMode = a.registers === 0 ? 'offset' : 'antialias'): Float32Array {
  const pos = ck.get(a.prefix + (a.naming === 'hf' ? 'embeddings.position_embeddings' : 'pos_embed')).float32();
  const n = viewSize / a.patch,
    M = a.grid,
    C = a.dim;
  if (n === M) return pos;
  const grid = pos.subarray(C);
  const taps = mode === 'offset' ? bicubicScaleTaps(M, (n + 0.1) / M) : mode === 'size' ? bicubicSizeTaps(M, n) : bicubicAntialiasTaps(M, n);
  if (taps.length !== n) throw new HrsegError('INTERNAL', `position table: ${taps.length} rows, expected ${n}`);
  const out = new Float32Array((1 + n * n) * C);
  out.set(pos.subarray(0, C));
  out.set(resample2d(grid, M, C, taps, taps), C);
  return out;
}

export function buildDinov2(ck: Checkpoint, options: DinoOptions = {}): { graph: GraphBuilder; arch: DinoArch; tokens: number } {
  const a = dinoArch(ck, options.heads);
  const D = options.viewSize ?? 518;
  if (D % a.patch !== 0) throw new HrsegError('INVALID_ARGUMENT', `DINOv2 view size ${D} is not a multiple of the patch size ${a.patch}`);
  const n = D / a.patch,
    C = a.dim,
    T = 1 + a.registers + n * n,
    hd = C / a.heads;
  const g = new GraphBuilder();
  const top = (name: string) => ck.get(a.prefix + name);
  const x = g.input('pixel_values', 'float', ['V', 3, D, D]);
  const pw = top(a.naming === 'hf' ? 'embeddings.patch_embeddings.projection.weight' : 'patch_embed.proj.weight');
  const pb = top(a.naming === 'hf' ? 'embeddings.patch_embeddings.projection.bias' : 'patch_embed.proj.bias');
  const conv = g.op('Conv', [x, f32Init(g, 'patch.weight', pw, [C, 3, a.patch, a.patch]), f32Init(g, 'patch.bias', pb, [C])], {
    kernel_shape: [a.patch, a.patch],
    strides: [a.patch, a.patch],
  });
  const patches = g.op('Transpose', [g.op('Reshape', [conv, g.int64('shape_patches', [0, C, n * n])])], { perm: [0, 2, 1] });
  // [V, 1, C] class token, then the position table for this view.
  const batch = g.op('Gather', [g.op('Shape', [x]), g.int64('zero', [0])], { axis: 0 });
  const expandTo = (rows: number, name: string) => g.op('Concat', [batch, g.int64(name, [rows, C])], { axis: 0 });
  const cls = g.op('Expand', [f32Init(g, 'cls_token', top(a.naming === 'hf' ? 'embeddings.cls_token' : 'cls_token'), [1, 1, C]), expandTo(1, 'shape_cls')]);
  let h = g.op('Add', [
    g.op('Concat', [cls, patches], { axis: 1 }),
    g.tensor(
      'pos_embed',
      'float',
      [1, 1 + n * n, C],
      () => new Uint8Array(positionTable(ck, a, D, options.tableMode ?? ((options.interpolateOffset ?? a.registers === 0) ? 'offset' : 'antialias')).buffer),
    ),
  ]);
  if (a.registers > 0) {
    const reg = g.op('Expand', [
      f32Init(g, 'register_tokens', top(a.naming === 'hf' ? 'embeddings.register_tokens' : 'register_tokens'), [1, a.registers, C]),
      expandTo(a.registers, 'shape_reg'),
    ]);
    const first = g.op('Slice', [h, g.int64('s0', [0]), g.int64('s1', [1]), g.int64('ax1', [1])]);
    const rest = g.op('Slice', [h, g.int64('s1b', [1]), g.int64('send', [1 + n * n]), g.int64('ax1b', [1])]);
    h = g.op('Concat', [first, reg, rest], { axis: 1 });
  }
  // Only the chunked attention reads it (ONNX Runtime warns at load about an initializer nothing reads).
  const scale = options.fusedAttention ? '' : g.float('attn_scale', [], [1 / Math.sqrt(hd)]);
  for (let i = 0; i < a.depth; i++) {
    const b = blockTensors(ck, a, i);
    const p = `blocks.${i}`;
    const y = layerNorm(g, h, `${p}.norm1`, b.norm1[0] as CheckpointTensor, b.norm1[1] as CheckpointTensor, C, 1e-6);
    const [qkvW, qkvB] = b.qkv as CheckpointTensor[][];
    const qkv = addBias(
      g,
      g.op('MatMul', [y, linearT(g, `${p}.qkv.weightT`, qkvW, 3 * C, C)]),
      g.tensor(`${p}.qkv.bias`, 'float', [3 * C], () => new Uint8Array(stacked(qkvB)().buffer)),
    );
    let ctx: string;
    if (options.fusedAttention) {
      const third = (k: number) => g.op('Slice', [qkv, g.int64(`${p}.f${k}0`, [k * C]), g.int64(`${p}.f${k}1`, [(k + 1) * C]), g.int64(`${p}.fax${k}`, [2])]);
      ctx = g.op(
        'MultiHeadAttention',
        [third(0), third(1), third(2)],
        { num_heads: a.heads, scale: { float: 1 / Math.sqrt(hd) } },
        [g.tmp('mha')],
        'com.microsoft',
      );
    } else {
      const heads = g.op('Transpose', [g.op('Reshape', [qkv, g.int64(`${p}.shape_qkv`, [0, T, 3, a.heads, hd])])], { perm: [2, 0, 3, 1, 4] });
      const part = (k: number) => g.op('Gather', [heads, g.int64(`${p}.idx${k}`, [k], [])], { axis: 0 });
      const q = g.op('Mul', [part(0), scale]);
      const kT = g.op('Transpose', [part(1)], { perm: [0, 1, 3, 2] });
      const v = part(2);
      // Queries in chunks, so that no view's whole score matrix is held at once (16 heads × 4097²
      // scores at 896² is 1 GiB a view): a query's scores, softmax and sum over the values are the
      // same in any chunk. Never one chunk, so the small models of the parity tests check this path.
      const rows = Math.max(1, Math.min(Math.ceil(T / 2), Math.floor((64 * 2 ** 20) / (a.heads * T * 4))));
      const ctxs: string[] = [];
      for (let r0 = 0; r0 < T; r0 += rows) {
        const c = `${p}.q${r0}`;
        const qc = g.op('Slice', [q, g.int64(`${c}.s0`, [r0]), g.int64(`${c}.s1`, [Math.min(T, r0 + rows)]), g.int64(`${c}.sax`, [2])]);
        ctxs.push(g.op('MatMul', [g.op('Softmax', [g.op('MatMul', [qc, kT])], { axis: -1 }), v]));
      }
      ctx = g.op('Reshape', [g.op('Transpose', [g.op('Concat', ctxs, { axis: 2 })], { perm: [0, 2, 1, 3] }), g.int64(`${p}.shape_ctx`, [0, T, C])]);
    }
    let o = addBias(
      g,
      g.op('MatMul', [ctx, linearT(g, `${p}.proj.weightT`, b.proj[0] as CheckpointTensor, C, C)]),
      f32Init(g, `${p}.proj.bias`, b.proj[1] as CheckpointTensor, [C]),
    );
    if (b.ls1) o = g.op('Mul', [o, f32Init(g, `${p}.ls1`, b.ls1, [C])]);
    h = g.op('Add', [h, o]);
    const z = layerNorm(g, h, `${p}.norm2`, b.norm2[0] as CheckpointTensor, b.norm2[1] as CheckpointTensor, C, 1e-6);
    const [w1, b1] = b.fc1 as CheckpointTensor[],
      [w2, b2] = b.fc2 as CheckpointTensor[];
    const hidden = w1.shape[0];
    let m = addBias(g, g.op('MatMul', [z, linearT(g, `${p}.fc1.weightT`, w1, hidden, C)]), f32Init(g, `${p}.fc1.bias`, b1, [hidden]));
    let inner = hidden;
    if (a.mlp === 'gelu') m = gelu(g, m);
    else {
      // SwiGLU (ViT-g): w12 gives x1 | x2; silu(x1)·x2.
      inner = hidden / 2;
      const x1 = g.op('Slice', [m, g.int64(`${p}.sw0`, [0]), g.int64(`${p}.sw1`, [inner]), g.int64(`${p}.swax`, [2])]);
      const x2 = g.op('Slice', [m, g.int64(`${p}.sw2`, [inner]), g.int64(`${p}.sw3`, [hidden]), g.int64(`${p}.swax2`, [2])]);
      m = g.op('Mul', [g.op('Mul', [x1, g.op('Sigmoid', [x1])]), x2]);
    }
    let f = addBias(g, g.op('MatMul', [m, linearT(g, `${p}.fc2.weightT`, w2, C, inner)]), f32Init(g, `${p}.fc2.bias`, b2, [C]));
    if (b.ls2) f = g.op('Mul', [f, f32Init(g, `${p}.ls2`, b.ls2, [C])]);
    h = g.op('Add', [h, f]);
  }
  const final = layerNorm(
    g,
    h,
    'norm',
    top(a.naming === 'hf' ? 'layernorm.weight' : 'norm.weight'),
    top(a.naming === 'hf' ? 'layernorm.bias' : 'norm.bias'),
    C,
    1e-6,
  );
  g.op('Slice', [final, g.int64('tok0', [1 + a.registers]), g.int64('tok1', [T]), g.int64('tokax', [1])], {}, ['patch_tokens']);
  g.output('patch_tokens', 'float', ['V', n * n, C]);
  return { graph: g, arch: a, tokens: n * n };
}
