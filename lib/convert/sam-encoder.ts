/**
 * SAM's image encoder (facebookresearch/segment-anything modeling/image_encoder.py) → the
 * package's `sam/encoder.onnx`: image [1, 3, S, S] (normalised, padded) → image_embeddings
 * [1, 256, S/16, S/16].
 *
 * ViT-B/L/H and any other size: the width, depth, head size (from rel_pos_h's width) and which
 * blocks attend globally (rel_pos_h of 2·G − 1 rows) or in windows (2·w − 1 rows) are all read
 * from the weights. Windows pad the grid with zeros after norm1 and attend without a mask; the
 * decomposed relative-position term uses the unscaled q (image_encoder.py:231-234); the neck's
 * LayerNorm2d normalises over channels with eps 1e-6. Official (`image_encoder.`) and Hugging Face
 * (`vision_encoder.`) key names are both read.
 */
import { HrsegError } from '../errors.js';
import type { Checkpoint, CheckpointTensor } from '../checkpoint/index.js';
import { GraphBuilder } from '../onnx/graph.js';
import { addBias, f32Init, gelu, layerNorm, linearT } from './ops.js';

export interface SamEncoderArch {
  naming: 'official' | 'hf';
  prefix: string;
  dim: number;
  depth: number;
  heads: number;
  patch: number;
  /** The token grid G (S / patch). */
  grid: number;
  /** Per block: 0 = global attention, else the window size. */
  windows: number[];
  outChannels: number;
  mlp: number;
}

const NAMES = {
  official: {
    patchW: 'patch_embed.proj.weight',
    patchB: 'patch_embed.proj.bias',
    pos: 'pos_embed',
    block: 'blocks',
    norm1: 'norm1',
    norm2: 'norm2',
    qkv: 'attn.qkv',
    proj: 'attn.proj',
    relH: 'attn.rel_pos_h',
    relW: 'attn.rel_pos_w',
    lin1: 'mlp.lin1',
    lin2: 'mlp.lin2',
    conv1: 'neck.0.weight',
    ln1: 'neck.1',
    conv2: 'neck.2.weight',
    ln2: 'neck.3',
  },
  hf: {
    patchW: 'patch_embed.projection.weight',
    patchB: 'patch_embed.projection.bias',
    pos: 'pos_embed',
    block: 'layers',
    norm1: 'layer_norm1',
    norm2: 'layer_norm2',
    qkv: 'attn.qkv',
    proj: 'attn.proj',
    relH: 'attn.rel_pos_h',
    relW: 'attn.rel_pos_w',
    lin1: 'mlp.lin1',
    lin2: 'mlp.lin2',
    conv1: 'neck.conv1.weight',
    ln1: 'neck.layer_norm1',
    conv2: 'neck.conv2.weight',
    ln2: 'neck.layer_norm2',
  },
} as const;

export function samEncoderArch(ck: Checkpoint): SamEncoderArch {
  const keys = ck.keys();
  let naming: 'official' | 'hf' | undefined,
    prefix = '';
  for (const k of keys) {
    const m = /^(.*?)(image_encoder|vision_encoder)\.pos_embed$/.exec(k);
    if (m) {
      naming = m[2] === 'image_encoder' ? 'official' : 'hf';
      prefix = `${m[1]}${m[2]}.`;
      break;
    }
  }
  if (!naming) throw new HrsegError('MODEL_FILE', `${ck.path}: no image_encoder.pos_embed or vision_encoder.pos_embed: not a SAM checkpoint`);
  const N = NAMES[naming];
  const pos = ck.get(prefix + N.pos);
  if (pos.shape.length !== 4 || pos.shape[1] !== pos.shape[2])
    throw new HrsegError('MODEL_FILE', `${pos.label} has shape [${pos.shape.join(', ')}], expected [1, G, G, C]`);
  const [, grid, , dim] = pos.shape;
  const patch = ck.get(prefix + N.patchW).shape[2];
  let depth = 0;
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}${N.block}\\.(\\d+)\\.`);
  for (const k of keys) {
    const m = re.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const windows: number[] = [];
  let headDim = 0;
  for (let i = 0; i < depth; i++) {
    const rel = ck.get(`${prefix}${N.block}.${i}.${N.relH}`);
    headDim = rel.shape[1];
    const L = rel.shape[0];
    windows.push(L === 2 * grid - 1 ? 0 : (L + 1) / 2);
    if (!Number.isInteger(windows[i])) throw new HrsegError('MODEL_FILE', `${rel.label}: ${L} rows is no window's 2w − 1`);
  }
  if (depth === 0 || dim % headDim !== 0)
    throw new HrsegError('MODEL_FILE', `${ck.path}: SAM encoder without blocks, or width ${dim} not a multiple of the head size ${headDim}`);
  const outChannels = ck.get(prefix + N.conv1).shape[0];
  const mlp = ck.get(`${prefix}${N.block}.0.${N.lin1}.weight`).shape[0];
  return { naming, prefix, dim, depth, heads: dim / headDim, patch, grid, windows, outChannels, mlp };
}

/** Rel-pos table R [q, k, hd] with R[i][j] = rel_pos[i − j + size − 1] (get_rel_pos, equal q and k sizes). */
function relTable(rel: CheckpointTensor, size: number, hd: number): Float32Array {
  const r = rel.float32();
  if (rel.shape[0] !== 2 * size - 1) throw new HrsegError('MODEL_FILE', `${rel.label}: ${rel.shape[0]} rows, expected ${2 * size - 1}`);
  // Stored transposed for MatMul: [q, hd, k].
  const out = new Float32Array(size * hd * size);
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) for (let c = 0; c < hd; c++) out[(i * hd + c) * size + j] = r[(i - j + size - 1) * hd + c];
  return out;
}

/**
 * Query rows (of a global block's w) per chunk of attention: as many as keep a chunk's scores
 * within 64 MiB, and never all of them, so that the small models of the parity tests take the
 * same chunked path as SAM-H (4 grid rows of 64 a chunk: 16 chunks of 64 MiB of scores).
 */
function globalChunkRows(w: number, bytesPerRow: number): number {
  return Math.max(1, Math.min(Math.ceil(w / 2), Math.floor((64 * 2 ** 20) / bytesPerRow)));
}

/**
 * Softmax'd scores of query rows r0 .. r0 + r (of w) over all T keys: q · kᵀ · scale plus
 * the decomposed relative positions, which use the unscaled q (image_encoder.py:231-234): rel_h[b,
 * i,j,k] = q[b,i,j]·Rh[i,k], rel_w[b,i,j,l] = q[b,i,j]·Rw[j,l]. Returns [nw, heads, r·w, T].
 */
function attendRows(
  g: GraphBuilder,
  c: string,
  q: string,
  kT: string,
  relH: string,
  relW: string,
  scale: string,
  d: { nw: number; heads: number; w: number; r: number; r0: number; hd: number; T: number },
): string {
  const { nw, heads, w, r, r0, hd, T } = d;
  const shape = (name: string, dims: number[]) => g.int64(name, dims);
  const attn = g.op('MatMul', [g.op('Mul', [q, scale]), kT]); // [nw, heads, r·w, T]
  const rq = g.op('Reshape', [q, shape(`${c}.rq`, [nw * heads, r, w, hd])]);
  const rh = r === w ? relH : g.op('Slice', [relH, g.int64(`${c}.h0`, [r0]), g.int64(`${c}.h1`, [r0 + r]), g.int64(`${c}.hax`, [0])]);
  const hTerm = g.op('MatMul', [rq, rh]); // [X, r, w, kh]
  const wTerm = g.op('Transpose', [g.op('MatMul', [g.op('Transpose', [rq], { perm: [0, 2, 1, 3] }), relW])], { perm: [0, 2, 1, 3] }); // [X, r, w, kw]
  const a5 = g.op('Reshape', [attn, shape(`${c}.a5`, [nw * heads, r, w, w, w])]);
  const withRel = g.op('Add', [g.op('Add', [a5, g.op('Unsqueeze', [hTerm, g.int64(`${c}.ax4`, [4])])]), g.op('Unsqueeze', [wTerm, g.int64(`${c}.ax3`, [3])])]);
  return g.op('Softmax', [g.op('Reshape', [withRel, shape(`${c}.a4`, [nw, heads, r * w, T])])], { axis: -1 });
}

export function buildSamEncoder(ck: Checkpoint): { graph: GraphBuilder; arch: SamEncoderArch; imageSize: number } {
  const a = samEncoderArch(ck);
  const N = NAMES[a.naming];
  const { dim: C, grid: G, heads } = a;
  const hd = C / heads,
    S = G * a.patch;
  const g = new GraphBuilder();
  const t = (n: string) => ck.get(a.prefix + n);
  const shape = (name: string, dims: number[]) => g.int64(name, dims);
  const x = g.input('image', 'float', [1, 3, S, S]);
  const conv = g.op('Conv', [x, f32Init(g, 'patch.weight', t(N.patchW), [C, 3, a.patch, a.patch]), f32Init(g, 'patch.bias', t(N.patchB), [C])], {
    kernel_shape: [a.patch, a.patch],
    strides: [a.patch, a.patch],
  });
  let h = g.op('Add', [g.op('Transpose', [conv], { perm: [0, 2, 3, 1] }), f32Init(g, 'pos_embed', t(N.pos), [1, G, G, C])]); // [1, G, G, C]
  const scale = g.float('attn_scale', [], [1 / Math.sqrt(hd)]);
  for (let i = 0; i < a.depth; i++) {
    const p = `${N.block}.${i}.`;
    const name = `blocks.${i}`;
    const w = a.windows[i] || G; // a global block is one window of the whole grid
    const Gp = Math.ceil(G / w) * w,
      nw = (Gp / w) ** 2,
      T = w * w;
    let y = layerNorm(g, h, `${name}.norm1`, t(`${p}${N.norm1}.weight`), t(`${p}${N.norm1}.bias`), C, 1e-6);
    if (a.windows[i]) {
      if (Gp > G) y = g.op('Pad', [y, shape(`${name}.pads`, [0, 0, 0, 0, 0, Gp - G, Gp - G, 0])]);
      y = g.op('Reshape', [
        g.op('Transpose', [g.op('Reshape', [y, shape(`${name}.win0`, [1, Gp / w, w, Gp / w, w, C])])], { perm: [0, 1, 3, 2, 4, 5] }),
        shape(`${name}.win1`, [nw, w, w, C]),
      ]);
    }
    const qkvW = t(`${p}${N.qkv}.weight`).expectShape([3 * C, C]);
    const qkv = addBias(
      g,
      g.op('MatMul', [y, linearT(g, `${name}.qkv.weightT`, qkvW, 3 * C, C)]),
      ck.has(`${a.prefix}${p}${N.qkv}.bias`) ? f32Init(g, `${name}.qkv.bias`, t(`${p}${N.qkv}.bias`), [3 * C]) : undefined,
    );
    const parts = g.op('Transpose', [g.op('Reshape', [qkv, shape(`${name}.qkvshape`, [nw, T, 3, heads, hd])])], { perm: [2, 0, 3, 1, 4] }); // [3, nw, heads, T, hd]
    const part = (k: number) => g.op('Gather', [parts, g.int64(`${name}.idx${k}`, [k], [])], { axis: 0 });
    const q = part(0);
    const kT = g.op('Transpose', [part(1)], { perm: [0, 1, 3, 2] });
    const v = part(2);
    const relH = g.tensor(`${name}.relH`, 'float', [w, hd, w], () => new Uint8Array(relTable(t(`${p}${N.relH}`), w, hd).buffer));
    const relW = g.tensor(`${name}.relW`, 'float', [w, hd, w], () => new Uint8Array(relTable(t(`${p}${N.relW}`), w, hd).buffer));
    // Query rows in chunks, so that no score matrix of the whole grid is ever held: a global block
    // of SAM-H has 16 heads × 4096² scores (1 GiB, and the bias adds and softmax each made another).
    // Each query row's scores, softmax and sum over the values are the same in any chunk.
    const rows = a.windows[i] ? w : globalChunkRows(w, heads * T * w * 4);
    const ctxs: string[] = [];
    for (let r0 = 0; r0 < w; r0 += rows) {
      const r = Math.min(rows, w - r0);
      const c = `${name}.rows${r0}`;
      const qc = r === w ? q : g.op('Slice', [q, g.int64(`${c}.s0`, [r0 * w]), g.int64(`${c}.s1`, [(r0 + r) * w]), g.int64(`${c}.sax`, [2])]);
      ctxs.push(g.op('MatMul', [attendRows(g, c, qc, kT, relH, relW, scale, { nw, heads, w, r, r0, hd, T }), v]));
    }
    const ctx = g.op('Reshape', [
      g.op('Transpose', [ctxs.length === 1 ? ctxs[0] : g.op('Concat', ctxs, { axis: 2 })], { perm: [0, 2, 1, 3] }),
      shape(`${name}.ctx`, [nw, w, w, C]),
    ]);
    let o = addBias(
      g,
      g.op('MatMul', [ctx, linearT(g, `${name}.proj.weightT`, t(`${p}${N.proj}.weight`), C, C)]),
      f32Init(g, `${name}.proj.bias`, t(`${p}${N.proj}.bias`), [C]),
    );
    if (a.windows[i]) {
      o = g.op('Reshape', [
        g.op('Transpose', [g.op('Reshape', [o, shape(`${name}.unwin0`, [1, Gp / w, Gp / w, w, w, C])])], { perm: [0, 1, 3, 2, 4, 5] }),
        shape(`${name}.unwin1`, [1, Gp, Gp, C]),
      ]);
      if (Gp > G) o = g.op('Slice', [o, g.int64(`${name}.crop0`, [0, 0]), g.int64(`${name}.crop1`, [G, G]), g.int64(`${name}.cropax`, [1, 2])]);
    }
    h = g.op('Add', [h, o]);
    const z = layerNorm(g, h, `${name}.norm2`, t(`${p}${N.norm2}.weight`), t(`${p}${N.norm2}.bias`), C, 1e-6);
    const m1 = addBias(
      g,
      g.op('MatMul', [z, linearT(g, `${name}.lin1.weightT`, t(`${p}${N.lin1}.weight`), a.mlp, C)]),
      f32Init(g, `${name}.lin1.bias`, t(`${p}${N.lin1}.bias`), [a.mlp]),
    );
    const m2 = addBias(
      g,
      g.op('MatMul', [gelu(g, m1), linearT(g, `${name}.lin2.weightT`, t(`${p}${N.lin2}.weight`), C, a.mlp)]),
      f32Init(g, `${name}.lin2.bias`, t(`${p}${N.lin2}.bias`), [C]),
    );
    h = g.op('Add', [h, m2]);
  }
  // Neck: 1×1 conv, LayerNorm2d, 3×3 conv, LayerNorm2d; the norms over channels, done channel-last.
  const O = a.outChannels;
  const nchw = g.op('Transpose', [h], { perm: [0, 3, 1, 2] });
  const c1 = g.op('Conv', [nchw, f32Init(g, 'neck.conv1', t(N.conv1), [O, C, 1, 1])], { kernel_shape: [1, 1] });
  const ln = (x: string, n: string, key: string) =>
    g.op('Transpose', [layerNorm(g, g.op('Transpose', [x], { perm: [0, 2, 3, 1] }), n, t(`${key}.weight`), t(`${key}.bias`), O, 1e-6)], { perm: [0, 3, 1, 2] });
  const n1 = ln(c1, 'neck.norm1', N.ln1);
  const c2 = g.op('Conv', [n1, f32Init(g, 'neck.conv2', t(N.conv2), [O, O, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const out = ln(c2, 'neck.norm2', N.ln2);
  g.op('Identity', [out], {}, ['image_embeddings']);
  g.output('image_embeddings', 'float', [1, O, G, G]);
  return { graph: g, arch: a, imageSize: S };
}
