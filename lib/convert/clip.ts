/**
 * LLaVA's vision side → the package's `vlm/vision.onnx`: pixel_values [1, 3, s, s] (the CLIP view)
 * → image_embeds [1, T, H], the CLIP ViT's `hidden_states[select]` (LLaVA's mm_vision_select_layer,
 * −2: the output of all but the last layer) without the class token, through the projector.
 *
 * CLIP as transformers' modeling_clip.py computes it: patch embedding without bias, class token and
 * position table, pre_layrnorm, then per layer x += attn(ln1(x)) with q scaled before the product,
 * x += fc2(quick_gelu(fc1(ln2(x)))), quick_gelu(x) = x·σ(1.702x), LayerNorm eps 1e-5. The projector
 * is `linear` (LLaVA v1, LISA, LLM-Seg: mm_projector.{weight,bias}) or `mlp2x_gelu` (LLaVA-1.5:
 * mm_projector.0, GELU, mm_projector.2). Keys are found under any prefix (`vision_model.` in
 * openai/clip-vit-large-patch14, `model.vision_tower.vision_tower.vision_model.` in LLaVA files).
 */
import { HrsegError } from '../errors.js';
import type { Checkpoint, CheckpointTensor } from '../checkpoint/index.js';
import { GraphBuilder } from '../onnx/graph.js';
import { addBias, f32Init, gelu, layerNorm, linearT } from './ops.js';

export interface ClipOptions {
  /** The checkpoint holding the projector when it is not the CLIP one (LLaVA/LISA/LLM-Seg). */
  projector?: Checkpoint;
  /** hidden_states index LLaVA takes (default −2). */
  selectLayer?: number;
  heads?: number;
}

export interface ClipArch {
  prefix: string;
  dim: number;
  depth: number;
  heads: number;
  patch: number;
  imageSize: number;
  projector: 'linear' | 'mlp2x_gelu';
  hidden: number;
}

function findProjector(ck: Checkpoint): { prefix: string; kind: 'linear' | 'mlp2x_gelu' } | undefined {
  for (const k of ck.keys()) {
    let m = /^(.*mm_projector)\.weight$/.exec(k);
    if (m) return { prefix: m[1], kind: 'linear' };
    m = /^(.*mm_projector)\.0\.weight$/.exec(k);
    if (m) return { prefix: m[1], kind: 'mlp2x_gelu' };
  }
  return undefined;
}

export function buildClipVision(ck: Checkpoint, options: ClipOptions = {}): { graph: GraphBuilder; arch: ClipArch; tokens: number } {
  const cls = ck.keys().find((k) => k.endsWith('embeddings.class_embedding'));
  if (!cls) throw new HrsegError('MODEL_FILE', `${ck.path}: no embeddings.class_embedding: not a CLIP vision tower`);
  const prefix = cls.slice(0, cls.length - 'embeddings.class_embedding'.length);
  const t = (n: string) => ck.get(prefix + n);
  const D = t('embeddings.class_embedding').shape[0];
  const pw = t('embeddings.patch_embedding.weight');
  const patch = pw.shape[2];
  const pos = t('embeddings.position_embedding.weight');
  const g0 = Math.round(Math.sqrt(pos.shape[0] - 1));
  if (g0 * g0 !== pos.shape[0] - 1) throw new HrsegError('MODEL_FILE', `${pos.label}: ${pos.shape[0]} rows is not 1 + g²`);
  let depth = 0;
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}encoder\\.layers\\.(\\d+)\\.`);
  for (const k of ck.keys()) {
    const m = re.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const heads = options.heads ?? D / 64; // CLIP ViT-L/14: 16 heads of 64 (B/16 12, H/14 16 of 80: give heads)
  if (!Number.isInteger(heads) || D % heads) throw new HrsegError('MODEL_FILE', `${ck.path}: width ${D} does not split into ${heads} heads`);
  const select = options.selectLayer ?? -2;
  const run = select < 0 ? depth + 1 + select : select; // hidden_states has depth + 1 entries
  if (run < 0 || run > depth) throw new HrsegError('INVALID_ARGUMENT', `selectLayer ${select} is outside hidden_states of ${depth + 1}`);
  const pj = options.projector ?? ck;
  const proj = findProjector(pj);
  if (!proj) throw new HrsegError('MODEL_FILE', `${pj.path}: no mm_projector (LLaVA's projector) in this checkpoint`);
  const first = pj.get(`${proj.prefix}.${proj.kind === 'linear' ? 'weight' : '0.weight'}`);
  const H = first.shape[0];
  if (first.shape[1] !== D) throw new HrsegError('MODEL_FILE', `${first.label} has shape [${first.shape.join(', ')}], expected [H, ${D}]`);

  const S = g0 * patch,
    T = g0 * g0,
    hd = D / heads;
  const g = new GraphBuilder();
  const x = g.input('pixel_values', 'float', [1, 3, S, S]);
  const conv = g.op('Conv', [x, f32Init(g, 'patch.weight', pw, [D, 3, patch, patch])], { kernel_shape: [patch, patch], strides: [patch, patch] });
  const patches = g.op('Transpose', [g.op('Reshape', [conv, g.int64('shape_patches', [1, D, T])])], { perm: [0, 2, 1] });
  const clsTok = f32Init(g, 'class_embedding', t('embeddings.class_embedding'), [1, 1, D]);
  let h = g.op('Add', [g.op('Concat', [clsTok, patches], { axis: 1 }), f32Init(g, 'position_embedding', pos, [1, 1 + T, D])]);
  h = layerNorm(g, h, 'pre_layrnorm', t('pre_layrnorm.weight'), t('pre_layrnorm.bias'), D, 1e-5);
  const lin = (x2: string, name: string, w: CheckpointTensor, b: CheckpointTensor, out: number, inDim: number) =>
    addBias(g, g.op('MatMul', [x2, linearT(g, `${name}.T`, w, out, inDim)]), f32Init(g, `${name}.bias`, b, [out]));
  const qscale = g.float('q_scale', [], [1 / Math.sqrt(hd)]);
  for (let i = 0; i < run; i++) {
    const p = `encoder.layers.${i}.`;
    const w = (n: string) => t(p + n);
    const y = layerNorm(g, h, `l${i}.ln1`, w('layer_norm1.weight'), w('layer_norm1.bias'), D, 1e-5);
    const heads4 = (v: string) => g.op('Transpose', [g.op('Reshape', [v, g.int64(g.tmp('heads'), [1, T + 1, heads, hd])])], { perm: [0, 2, 1, 3] });
    const q = heads4(g.op('Mul', [lin(y, `l${i}.q`, w('self_attn.q_proj.weight'), w('self_attn.q_proj.bias'), D, D), qscale]));
    const k = heads4(lin(y, `l${i}.k`, w('self_attn.k_proj.weight'), w('self_attn.k_proj.bias'), D, D));
    const v = heads4(lin(y, `l${i}.v`, w('self_attn.v_proj.weight'), w('self_attn.v_proj.bias'), D, D));
    const attn = g.op('Softmax', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })])], { axis: -1 });
    const ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [attn, v])], { perm: [0, 2, 1, 3] }), g.int64(g.tmp('merge'), [1, T + 1, D])]);
    h = g.op('Add', [h, lin(ctx, `l${i}.o`, w('self_attn.out_proj.weight'), w('self_attn.out_proj.bias'), D, D)]);
    const z = layerNorm(g, h, `l${i}.ln2`, w('layer_norm2.weight'), w('layer_norm2.bias'), D, 1e-5);
    const inner = w('mlp.fc1.weight').shape[0];
    const a = lin(z, `l${i}.fc1`, w('mlp.fc1.weight'), w('mlp.fc1.bias'), inner, D);
    const quick = g.op('Mul', [a, g.op('Sigmoid', [g.op('Mul', [a, g.float(g.tmp('k1702'), [], [1.702])])])]);
    h = g.op('Add', [h, lin(quick, `l${i}.fc2`, w('mlp.fc2.weight'), w('mlp.fc2.bias'), D, inner)]);
  }
  // Patch tokens only (LLaVA's select_feature 'patch'), then the projector.
  let f = g.op('Slice', [h, g.int64('tok0', [1]), g.int64('tok1', [T + 1]), g.int64('tokax', [1])]);
  if (proj.kind === 'linear') f = lin(f, 'mm_projector', pj.get(`${proj.prefix}.weight`), pj.get(`${proj.prefix}.bias`), H, D);
  else
    f = lin(
      gelu(g, lin(f, 'mm_projector.0', pj.get(`${proj.prefix}.0.weight`), pj.get(`${proj.prefix}.0.bias`), H, D)),
      'mm_projector.2',
      pj.get(`${proj.prefix}.2.weight`),
      pj.get(`${proj.prefix}.2.bias`),
      H,
      H,
    );
  g.op('Identity', [f], {}, ['image_embeds']);
  g.output('image_embeds', 'float', [1, T, H]);
  return { graph: g, arch: { prefix, dim: D, depth, heads, patch, imageSize: S, projector: proj.kind, hidden: H }, tokens: T };
}
