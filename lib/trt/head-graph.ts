/**
 * The HRSeg head as two ONNX graphs, written from head.safetensors, for TensorRT (build-engines)
 * and, in their twin form, for ONNX Runtime (the proof that the graphs compute the head).
 *
 * - image step: fg [G, C], fl [L, C] (HRP only), masks uint8 [K, H, W] (cast to fp16 before
 *   MaskPooling: plugins take no uint8) → region [G, d] (HRP only),
 *   hybrid [G, d], mHrp [K, d], mHre [K, d].
 * - instruction step: mHre [K, d], hSeg [1, hidden] → text [1, d], embeddings [K, d],
 *   similarity [K], iop [K] (selection, a sort of K ≤ 50 scores, stays on the host).
 *
 * `plugins: true` expresses region attention (with the γ-mix) and mask pooling as the custom ops
 * RegionAttention and MaskPooling (domain and plugin_namespace "hrseg", plugin_version "1"), which
 * TensorRT's ONNX parser maps to hrseg's plugins; `plugins: false` writes the same computation in
 * standard operators (windows by Reshape/Transpose, the pooling by its definition: the P×S resize
 * matrices of the padded square frame built in the graph, bilinear upsampling of the features,
 * weighted mean). The twin is a proof, not a fast graph: TensorRT builds the plugin form.
 */
import type { Checkpoint } from '../checkpoint/index.js';
import { HrsegError } from '../errors.js';
import type { HeadConfig } from '../head.js';
import { GraphBuilder } from '../onnx/graph.js';

export type HeadWeight = { shape: readonly number[]; data: Float32Array };
export type HeadWeights = (name: string) => HeadWeight | undefined;

/** head.safetensors (or any checkpoint) as HeadWeights, each tensor read as float32 when asked for. */
export function checkpointHeadWeights(ck: Checkpoint): HeadWeights {
  return (name) => {
    if (!ck.has(name)) return undefined;
    const t = ck.get(name);
    return { shape: t.shape, data: t.float32() };
  };
}

export interface HeadGraphOptions {
  plugins: boolean;
}

/** Opset 18 (the standard set the graphs are written in). */
export const HEAD_GRAPH_OPSET = 18;

class HeadOps {
  private readonly added = new Set<string>();

  constructor(
    readonly g: GraphBuilder,
    private readonly w: HeadWeights,
  ) {}

  weight(name: string): string {
    const t = this.w(name);
    if (!t) throw new HrsegError('MODEL_FILE', `head.safetensors: '${name}' is missing`);
    return this.constant(name, [...t.shape], t.data);
  }

  /** A named float initializer, added once however often it is read (fg and fl share input_proj). */
  constant(name: string, dims: number[], data: Float32Array): string {
    if (!this.added.has(name)) this.g.float(name, dims, data);
    this.added.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.w(name) !== undefined;
  }

  /** y = x·Wᵀ + b (PyTorch Linear); a missing bias is zero. */
  linear(x: string, name: string): string {
    const W = this.w(`${name}.weight`);
    if (!W) throw new HrsegError('MODEL_FILE', `head.safetensors: '${name}.weight' is missing`);
    const b = this.w(`${name}.bias`);
    const bias = this.constant(`${name}.bias`, [W.shape[0]], b ? b.data : new Float32Array(W.shape[0]));
    return this.g.op('Gemm', [x, this.weight(`${name}.weight`), bias], { transB: 1 });
  }

  /** The width of a projection's output. */
  width(name: string): number {
    const W = this.w(`${name}.weight`);
    if (!W) throw new HrsegError('MODEL_FILE', `head.safetensors: '${name}.weight' is missing`);
    return W.shape[0];
  }

  shape(dims: number[]): string {
    return this.g.int64(this.g.tmp('shape'), dims);
  }

  scalar(value: number): string {
    return this.g.float(this.g.tmp('c'), [], [value]);
  }

  /** Multi-head attention over 2-D rows: q from xq [m, ·], k and v from xk, xv [n, ·]. */
  attention(xq: string, xk: string, xv: string, heads: number, name: string): string {
    const D = this.width(`${name}.q_proj`),
      Dv = this.width(`${name}.v_proj`);
    const dh = D / heads,
      dvh = Dv / heads;
    const split = (x: string, size: number, perm: number[]) => this.g.op('Transpose', [this.g.op('Reshape', [x, this.shape([-1, heads, size])])], { perm });
    const q = split(this.linear(xq, `${name}.q_proj`), dh, [1, 0, 2]); // [h, m, dh]
    const kT = split(this.linear(xk, `${name}.k_proj`), dh, [1, 2, 0]); // [h, dh, n]
    const v = split(this.linear(xv, `${name}.v_proj`), dvh, [1, 0, 2]); // [h, n, dvh]
    const scores = this.g.op('Mul', [this.g.op('MatMul', [q, kT]), this.scalar(1 / Math.sqrt(dh))]);
    const ctx = this.g.op('MatMul', [this.g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = this.g.op('Reshape', [this.g.op('Transpose', [ctx], { perm: [1, 0, 2] }), this.shape([-1, Dv])]);
    return this.has(`${name}.out_proj.weight`) ? this.linear(merged, `${name}.out_proj`) : merged;
  }

  /** LayerNorm(x + a), eps 1e-5. */
  addNorm(x: string, a: string, name: string): string {
    return this.g.op('LayerNormalization', [this.g.op('Add', [x, a]), this.weight(`${name}.weight`), this.weight(`${name}.bias`)], {
      axis: -1,
      epsilon: 1e-5,
    });
  }

  relu(x: string): string {
    return this.g.op('Relu', [x]);
  }
}

/**
 * The [P, S] matrix of one axis of the mask resize, S a 1-element int64 tensor, from PyTorch's
 * definitions (as head-reference.ts): 'bilinear-antialias' = the triangle max(0, 1 − |t|),
 * t = (j + ½ − s·(o + ½)) / max(s, 1), s = S/P; 'area' = 1 on [floor(o·S/P), ceil((o+1)·S/P));
 * each row normalised over the S samples of the frame (padding included).
 */
function resizeMatrix(g: GraphBuilder, o: HeadOps, side: string, P: number, mode: HeadConfig['maskResize']): string {
  const S = g.op('Cast', [g.op('Squeeze', [side, g.int64(g.tmp('ax'), [0])])], { to: 1 });
  const j = g.op('Unsqueeze', [g.op('Range', [o.scalar(0), S, o.scalar(1)]), g.int64(g.tmp('ax'), [0])]); // [1, S]
  const out = o.constant(
    g.tmp('o'),
    [P, 1],
    Float32Array.from({ length: P }, (_, i) => i),
  );
  const scale = g.op('Div', [S, o.scalar(P)]);
  let a: string;
  if (mode === 'area') {
    const lo = g.op('Floor', [g.op('Mul', [out, scale])]);
    const hi = g.op('Ceil', [g.op('Mul', [g.op('Add', [out, o.scalar(1)]), scale])]);
    const inside = g.op('And', [g.op('GreaterOrEqual', [j, lo]), g.op('Less', [j, hi])]);
    a = g.op('Cast', [inside], { to: 1 });
  } else {
    const centre = g.op('Mul', [g.op('Add', [out, o.scalar(0.5)]), scale]);
    const t = g.op('Div', [g.op('Sub', [g.op('Add', [j, o.scalar(0.5)]), centre]), g.op('Max', [scale, o.scalar(1)])]);
    a = g.op('Relu', [g.op('Sub', [o.scalar(1), g.op('Abs', [t])])]);
  }
  return g.op('Div', [a, g.op('ReduceSum', [a, g.int64(g.tmp('axis'), [1])], { keepdims: 1 })]);
}

/** SPEC §4–5: HRP (input projection, region attention, γ-mix, mask pooling) and HRE. */
export function headImageGraph(w: HeadWeights, c: HeadConfig, options: HeadGraphOptions): GraphBuilder {
  const g = new GraphBuilder();
  const o = new HeadOps(g, w);
  const { globalGrid: ng, magnification: N, dim: d, featureDim: C, poolSize: P } = c;
  const nl = N * ng;
  const fg = g.input('fg', 'float', [ng * ng, C]);
  const fl = c.hrp ? g.input('fl', 'float', [nl * nl, C]) : undefined;
  const masks = g.input('masks', 'uint8', ['K', 'H', 'W']);
  const xg = o.linear(fg, 'hrp.input_proj');
  let fr: string | undefined;
  let fh: string;
  if (c.hrp) {
    const xl = o.linear(fl!, 'hrp.input_proj');
    const q = o.linear(xg, 'hrp.region_attn.q_proj');
    const k = o.linear(xl, 'hrp.region_attn.k_proj');
    const v = o.linear(xl, 'hrp.region_attn.v_proj');
    if (options.plugins) {
      const kv = g.op('Concat', [k, v], { axis: 1 });
      g.op(
        'RegionAttention',
        [q, kv, xg],
        { magnification: N, gamma: { float: c.gamma }, plugin_namespace: 'hrseg', plugin_version: '1' },
        ['region', 'hybrid'],
        'hrseg',
      );
      fr = 'region';
      fh = 'hybrid';
    } else {
      // Cell (i, j) attends over local cells (N·i + a, N·j + b): gather windows by reshape/transpose.
      const window = (x: string) =>
        g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [x, o.shape([ng, N, ng, N, d])])], { perm: [0, 2, 1, 3, 4] }), o.shape([ng * ng, N * N, d])]);
      const q3 = g.op('Reshape', [q, o.shape([ng * ng, 1, d])]);
      const scores = g.op('Mul', [g.op('MatMul', [q3, g.op('Transpose', [window(k)], { perm: [0, 2, 1] })]), o.scalar(1 / Math.sqrt(d))]);
      fr = g.op('Reshape', [g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), window(v)]), o.shape([ng * ng, d])], {}, ['region']);
      fh = g.op('Add', [g.op('Mul', [xg, o.scalar(c.gamma)]), g.op('Mul', [fr, o.scalar(1 - c.gamma)])], {}, ['hybrid']);
    }
    g.output('region', 'float', [ng * ng, d]);
  } else {
    fh = g.op('Identity', [xg], {}, ['hybrid']);
  }
  g.output('hybrid', 'float', [ng * ng, d]);
  if (c.poolSource === 'region' && !fr) throw new HrsegError('INVALID_ARGUMENT', "poolSource 'region' needs HRP");
  const pooled = c.poolSource === 'hybrid' ? fh : fr!;
  let m: string;
  if (options.plugins) {
    // TensorRT hands a plugin no uint8 or bool tensor (NvInferRuntimePlugin.h, PluginTensorDesc::type),
    // and a uint8 network input may only feed a Cast: the masks go to MaskPooling as fp16, exact
    // for 0/1 and half the bytes of fp32 (at K 50 and 2048², 400 MiB beside the 200 MiB input).
    const masksHalf = g.op('Cast', [masks], { to: 10 }, ['masks_f16']);
    m = g.op(
      'MaskPooling',
      [masksHalf, pooled],
      { pool_size: P, mask_resize: c.maskResize, plugin_namespace: 'hrseg', plugin_version: '1' },
      ['mHrp'],
      'hrseg',
    );
  } else {
    // w_k = A_H · M_k · A_Wᵀ, with A the [P, S] resize matrix of the zero-padded square frame
    // (S = max(H, W)) built in the graph from its definition, its columns cut to the image's extent.
    const shape = g.op('Shape', [masks]);
    const dim = (i: number) => g.op('Slice', [shape, g.int64(g.tmp('s'), [i]), g.int64(g.tmp('e'), [i + 1])]);
    const h = dim(1),
      wd = dim(2);
    const side = g.op('Max', [h, wd]);
    const A = resizeMatrix(g, o, side, P, c.maskResize);
    const cols = (n: string) => g.op('Slice', [A, g.int64(g.tmp('s'), [0]), n, g.int64(g.tmp('ax'), [1])]);
    const mf = g.op('Cast', [masks], { to: 1 });
    const rows = g.op('MatMul', [cols(h), mf]); // [K, P, W]
    const resized = g.op('MatMul', [rows, g.op('Transpose', [cols(wd)], { perm: [1, 0] })]); // [K, P, P]
    const wts = g.op('Reshape', [resized, o.shape([-1, P * P])]);
    const grid = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [pooled, o.shape([ng, ng, d])])], { perm: [2, 0, 1] }), o.shape([1, d, ng, ng])]);
    const up = g.op('Resize', [grid, '', '', o.shape([1, d, P, P])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
    const upT = g.op('Transpose', [g.op('Reshape', [up, o.shape([d, P * P])])], { perm: [1, 0] });
    const den = g.op('Add', [g.op('ReduceSum', [wts, g.int64(g.tmp('axis'), [1])], { keepdims: 1 }), o.scalar(1e-8)]);
    m = g.op('Div', [g.op('MatMul', [wts, upT]), den], {}, ['mHrp']);
  }
  g.output('mHrp', 'float', ['K', d]);
  for (let l = 0; l < c.hreLayers; l++) {
    const a = o.attention(m, fh, fh, c.hreHeads, `hre.layers.${l}.attn`);
    m = o.addNorm(m, a, `hre.layers.${l}.norm`);
  }
  g.op('Identity', [m], {}, ['mHre']);
  g.output('mHre', 'float', ['K', d]);
  return g;
}

/** SPEC §6–7 for one [SEG]: text projection, fusion, the IoP and embedding heads, cosine similarity. */
export function headInstructionGraph(w: HeadWeights, c: HeadConfig): GraphBuilder {
  const g = new GraphBuilder();
  const o = new HeadOps(g, w);
  const d = c.dim;
  const mHre = g.input('mHre', 'float', ['K', d]);
  const hSeg = g.input('hSeg', 'float', [1, c.hiddenSize]);
  const t = g.op('Identity', [o.linear(o.relu(o.linear(hSeg, 'text_hidden_fcs.0.0')), 'text_hidden_fcs.0.2')], {}, ['text']);
  g.output('text', 'float', [1, d]);
  let q = mHre;
  let token = t;
  for (let b = 0; b < c.fusionBlocks; b++) {
    const p = `fusion.layers.${b}`;
    q = o.addNorm(q, o.attention(q, q, q, c.fusionHeads, `${p}.self_attn`), `${p}.norm1`);
    q = o.addNorm(q, o.attention(q, token, token, c.fusionHeads, `${p}.cross_attn_token_to_image`), `${p}.norm2`);
    q = o.addNorm(q, o.linear(o.relu(o.linear(q, `${p}.mlp.lin1`)), `${p}.mlp.lin2`), `${p}.norm3`);
    token = o.addNorm(token, o.attention(token, q, q, c.fusionHeads, `${p}.cross_attn_image_to_token`), `${p}.norm4`);
  }
  q = o.addNorm(q, o.attention(q, token, token, c.fusionHeads, 'fusion.final_attn_token_to_image'), 'fusion.norm_final_attn');
  const iopLogit = o.linear(o.relu(o.linear(q, 'iop_head.layers.0')), 'iop_head.layers.1');
  g.op('Sigmoid', [g.op('Reshape', [iopLogit, o.shape([-1])])], {}, ['iop']);
  g.output('iop', 'float', ['K']);
  const e = g.op('Identity', [o.linear(o.relu(o.linear(q, 'embed_head.layers.0')), 'embed_head.layers.1')], {}, ['embeddings']);
  g.output('embeddings', 'float', ['K', d]);
  // cos(t, e_k) with torch.cosine_similarity's floor of 1e-8 on each norm.
  const norm = (x: string) =>
    g.op('Max', [g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [x, x]), g.int64(g.tmp('axis'), [1])], { keepdims: 1 })]), o.scalar(1e-8)]);
  const dot = g.op('MatMul', [e, g.op('Transpose', [t], { perm: [1, 0] })]); // [K, 1]
  const sim = g.op('Div', [dot, g.op('Mul', [norm(e), norm(t)])]);
  g.op('Reshape', [sim, o.shape([-1])], {}, ['similarity']);
  g.output('similarity', 'float', ['K']);
  return g;
}
