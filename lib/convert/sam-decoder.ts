/**
 * SAM's prompt encoder and mask decoder (facebookresearch/segment-anything
 * modeling/prompt_encoder.py, mask_decoder.py, transformer.py) for point prompts → the package's
 * `sam/decoder.onnx`: image_embeddings [1, C, G, G], point_coords [B, 1, 2] (pixels of the S×S SAM
 * frame), point_labels [B, 1] → low_res_masks [B, 3, 4G, 4G], iou_predictions [B, 3].
 *
 * As the official predictor runs it for one point without a box: the point is shifted to the
 * pixel centre and a padding point (0, 0) with label −1 is appended (its encoding zeroed,
 * not_a_point_embed added); the dense positional encoding and the no-mask embedding are constants
 * baked here from the stored Gaussian matrix (never regenerated); the two-way transformer's first
 * block has no residual and no position on its self-attention; multimask output = masks 1..3.
 */
import { HrsegError } from '../errors.js';
import type { Checkpoint, CheckpointTensor } from '../checkpoint/index.js';
import { GraphBuilder } from '../onnx/graph.js';
import { addBias, f32Init, gelu, layerNorm, linearT } from './ops.js';

export interface SamDecoderOptions {
  /** The image-embedding grid G (64 for SAM's 1024 frame); the frame is 16·G. */
  grid?: number;
  /** Attention heads of the two-way transformer (8 in every released SAM; not stored in the weights). */
  heads?: number;
  /**
   * 'points' (default): point_coords and point_labels, encoded as the official predictor does.
   * 'embeddings': the sparse prompt embeddings themselves, `sparse_embeddings [B, n, C]`, as LISA
   * prompts its fine-tuned decoder with the projected [SEG] state (n = 1, no padding point, no
   * box; the dense prompt is the no-mask embedding, as for points).
   */
  prompt?: 'points' | 'embeddings';
  /** true (default): masks 1..3 and their IoU (multimask_output); false: mask 0 alone (LISA). */
  multimask?: boolean;
}

/**
 * Hugging Face's SamModel name of an official key: the ordered replacements of transformers'
 * convert_sam_to_hf.py (replace_keys), then its renumbering of the hypernetwork MLPs' layers.
 */
const HF_RENAMES: [string, string][] = [
  ['iou_prediction_head.layers.0', 'iou_prediction_head.proj_in'],
  ['iou_prediction_head.layers.1', 'iou_prediction_head.layers.0'],
  ['iou_prediction_head.layers.2', 'iou_prediction_head.proj_out'],
  ['mask_decoder.output_upscaling.0', 'mask_decoder.upscale_conv1'],
  ['mask_decoder.output_upscaling.1', 'mask_decoder.upscale_layer_norm'],
  ['mask_decoder.output_upscaling.3', 'mask_decoder.upscale_conv2'],
  ['point_embeddings', 'point_embed'],
  ['.norm', '.layer_norm'],
];

export function hfSamName(official: string): string {
  if (official === 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix') return 'shared_image_embedding.positional_embedding';
  let k = official;
  for (const [from, to] of HF_RENAMES) if (k.includes(from)) k = k.replace(from, to);
  const m = /\.output_hypernetworks_mlps\.\d+\.layers\.(\d)/.exec(k);
  if (m) k = k.replace(`layers.${m[1]}`, ({ 0: 'proj_in', 1: 'layers.0', 2: 'proj_out' } as Record<string, string>)[m[1]]);
  return k;
}

export function buildSamDecoder(ck: Checkpoint, options: SamDecoderOptions = {}): { graph: GraphBuilder; dim: number; depth: number } {
  const keys = ck.keys();
  const OFFICIAL_GAUSS = 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix',
    HF_GAUSS = 'shared_image_embedding.positional_embedding';
  const official = keys.find((k) => k.endsWith(OFFICIAL_GAUSS));
  const hf = official ? undefined : keys.find((k) => k.endsWith(HF_GAUSS));
  if (!official && !hf) throw new HrsegError('MODEL_FILE', `${ck.path}: no ${OFFICIAL_GAUSS} (or ${HF_GAUSS}): not a SAM checkpoint`);
  const root = official ? official.slice(0, official.length - OFFICIAL_GAUSS.length) : hf!.slice(0, hf!.length - HF_GAUSS.length);
  const key = (name: string) => root + (official ? name : hfSamName(name));
  const pe = (n: string) => ck.get(key(`prompt_encoder.${n}`));
  const md = (n: string) => ck.get(key(`mask_decoder.${n}`));
  const C = md('iou_token.weight').shape[1];
  const tokens = md('mask_tokens.weight').shape[0]; // 4: one single-mask and three multimask outputs
  let depth = 0;
  for (const k of keys) {
    const m = new RegExp(`^${root.replace(/\./g, '\\.')}mask_decoder\\.transformer\\.layers\\.(\\d+)\\.`).exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const G = options.grid ?? 64,
    S = 16 * G,
    HW = G * G;
  const F = pe('pe_layer.positional_encoding_gaussian_matrix').expectShape([2, C / 2]);
  const heads = options.heads ?? 8; // build_sam.py's TwoWayTransformer; the attention width is read per layer
  const g = new GraphBuilder();

  // ---- inputs and prompt encoding ----
  const img = g.input('image_embeddings', 'float', [1, C, G, G]);
  const { sparse, batch } = options.prompt === 'embeddings' ? embeddingPrompt(g, C) : pointPrompt(g, C, S, F, pe);

  // ---- the decoder's tokens and image ----
  const out = g.op(
    'Concat',
    [f32Init(g, 'md.iou_token', md('iou_token.weight'), [1, C]), f32Init(g, 'md.mask_tokens', md('mask_tokens.weight'), [tokens, C])],
    { axis: 0 },
  );
  const outTokens = g.op('Expand', [g.op('Unsqueeze', [out, g.int64('ax0', [0])]), g.op('Concat', [batch, g.int64('shape_tC', [tokens + 1, C])], { axis: 0 })]);
  const queryPe = g.op('Concat', [outTokens, sparse], { axis: 1 }); // point_embedding [B, T, C]
  const noMask = pe('no_mask_embed.weight').expectShape([1, C]);
  const imgFlat = g.op('Transpose', [g.op('Reshape', [img, g.int64('shape_img', [1, C, HW])])], { perm: [0, 2, 1] }); // [1, HW, C]
  let keysT = g.op('Add', [imgFlat, f32Init(g, 'pe.no_mask', noMask, [1, 1, C])]);
  const keyPe = g.tensor('pe.dense', 'float', [1, HW, C], () => new Uint8Array(densePe(F.float32(), C / 2, G).buffer));

  // A Linear of the mask decoder: x·Wᵀ + b, W [out, in] checked against the widths given.
  const proj = (name: string, n: string, x: string, out: number, inDim: number) =>
    addBias(
      g,
      g.op('MatMul', [x, linearT(g, `${name}.${n}.T`, md(`${name}.${n}.weight`), out, inDim)]),
      f32Init(g, `${name}.${n}.bias`, md(`${name}.${n}.bias`), [out]),
    );
  const width = (name: string) => md(`${name}.q_proj.weight`).shape[0]; // an attention's inner width I
  const attention = (name: string, q: string, k: string, v: string) => {
    const I = width(name),
      hd = I / heads;
    const split = (x: string) => g.op('Transpose', [g.op('Reshape', [x, g.int64(g.tmp('heads'), [0, 0, heads, hd])])], { perm: [0, 2, 1, 3] });
    const qh = split(proj(name, 'q_proj', q, I, C)),
      kh = split(proj(name, 'k_proj', k, I, C)),
      vh = split(proj(name, 'v_proj', v, I, C));
    const scores = g.op('Div', [g.op('MatMul', [qh, g.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]), g.float(g.tmp('sqrt_hd'), [], [Math.sqrt(hd)])]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vh]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.int64(g.tmp('merge'), [0, 0, I])]);
    return proj(name, 'out_proj', merged, C, I);
  };
  const norm = (x: string, name: string) => layerNorm(g, x, name, md(`${name}.weight`), md(`${name}.bias`), C, 1e-5);

  // The cross-attentions between the few tokens (T = 7 for a point) and the 4,096 image rows, with
  // the projections moved to the token side where the image side is per prompt: a head's scores
  // q_h·(x·W_hᵀ)ᵀ are (q_h·W_h)·xᵀ, and a softmax-weighted sum of projected rows is the projection
  // of the weighted sum (a softmax row sums to 1), so the image rows meet [heads·T, C] matrices once
  // instead of being projected to [HW, I] and split into heads (~40 % of the decoder's products
  // and its largest transposes, per prompt). Same sums in another order.
  const headsOf = (x: string) => g.op('Transpose', [g.op('Reshape', [x, g.int64(g.tmp('heads'), [0, 0, heads, -1])])], { perm: [0, 2, 1, 3] }); // [B, h, T, hd]
  const flatHeads = (x: string) => g.op('Reshape', [x, g.int64(g.tmp('flat'), [0, -1, C])]); // [B, h, T, C] → [B, h·T, C]
  const headWeights = (name: string, n: string) => {
    const w = md(`${name}.${n}.weight`);
    return f32Init(g, `${name}.${n}.heads`, w, [heads, w.shape[0] / heads, C]); // [h, hd, C]: W's rows by head
  };
  const scales = new Map<string, string>();
  const invSqrt = (name: string) => {
    let s = scales.get(name);
    if (!s) scales.set(name, (s = g.float(`${name}.inv_sqrt_hd`, [], [1 / Math.sqrt(width(name) / heads)])));
    return s;
  };
  // Tokens attending to per-prompt image rows: k, v [B, HW, C]. k_proj's bias adds the same
  // amount to a query's every score, which the softmax ignores, so it drops out.
  const tokenToImage = (name: string, q: string, k: string, v: string) => {
    const I = width(name);
    const a = g.op('Mul', [flatHeads(g.op('MatMul', [headsOf(proj(name, 'q_proj', q, I, C)), headWeights(name, 'k_proj')])), invSqrt(name)]); // [B, h·T, C]
    const probs = g.op('Softmax', [g.op('MatMul', [a, g.op('Transpose', [k], { perm: [0, 2, 1] })])], { axis: -1 }); // [B, h·T, HW]
    const r = g.op('Reshape', [g.op('MatMul', [probs, v]), g.int64(g.tmp('byhead'), [0, heads, -1, C])]); // [B, h, T, C]
    const wvT = g.op('Transpose', [headWeights(name, 'v_proj')], { perm: [0, 2, 1] }); // [h, C, hd]
    const bv = f32Init(g, `${name}.v_proj.bias.heads`, md(`${name}.v_proj.bias`), [heads, 1, I / heads]);
    const ctx = g.op('Add', [g.op('MatMul', [r, wvT]), bv]); // [B, h, T, hd]
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.int64(g.tmp('merge'), [0, 0, I])]);
    return proj(name, 'out_proj', merged, C, I);
  };
  // Image rows attending to the tokens: q [1 or B, HW, C]; k, v [B, T, C]. The output projection
  // goes to the values' side (N_h = v_h·Wo_hᵀ, [h·T, C]). With per-prompt rows the query
  // projection goes to the keys' side too; with the shared rows of the first layer it is made once.
  const imageToToken = (name: string, q: string, k: string, v: string, shared: boolean) => {
    const I = width(name);
    const kh = headsOf(proj(name, 'k_proj', k, I, C)); // [B, h, T, hd]
    let probs: string;
    if (shared) {
      const qh = headsOf(proj(name, 'q_proj', q, I, C)); // [1, h, HW, hd], once
      const scores = g.op('Mul', [g.op('MatMul', [qh, g.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]), invSqrt(name)]); // [B, h, HW, T]
      const p = g.op('Transpose', [g.op('Softmax', [scores], { axis: -1 })], { perm: [0, 2, 1, 3] }); // [B, HW, h, T]
      probs = g.op('Reshape', [p, g.int64(g.tmp('flatp'), [0, 0, -1])]);
    } else {
      const mT = g.op('Mul', [flatHeads(g.op('MatMul', [kh, headWeights(name, 'q_proj')])), invSqrt(name)]); // [B, h·T, C]
      const bq = f32Init(g, `${name}.q_proj.bias.heads`, md(`${name}.q_proj.bias`), [heads, I / heads, 1]);
      const c = g.op('Mul', [g.op('Reshape', [g.op('MatMul', [kh, bq]), g.int64(g.tmp('row'), [0, 1, -1])]), invSqrt(name)]); // [B, 1, h·T]
      const scores = g.op('Add', [g.op('MatMul', [q, g.op('Transpose', [mT], { perm: [0, 2, 1] })]), c]); // [B, HW, h·T]
      const p = g.op('Softmax', [g.op('Reshape', [scores, g.int64(g.tmp('byhead'), [0, 0, heads, -1])])], { axis: -1 });
      probs = g.op('Reshape', [p, g.int64(g.tmp('flatp'), [0, 0, -1])]); // [B, HW, h·T]
    }
    const woT = g.op('Transpose', [f32Init(g, `${name}.out_proj.heads`, md(`${name}.out_proj.weight`), [C, heads, I / heads])], { perm: [1, 2, 0] }); // [h, hd, C]
    const n = flatHeads(g.op('MatMul', [headsOf(proj(name, 'v_proj', v, I, C)), woT])); // [B, h·T, C]
    return g.op('Add', [g.op('MatMul', [probs, n]), f32Init(g, `${name}.out_proj.bias`, md(`${name}.out_proj.bias`), [C])]);
  };

  let queries = queryPe;
  for (let i = 0; i < depth; i++) {
    const L = `transformer.layers.${i}`;
    if (i === 0)
      queries = attention(`${L}.self_attn`, queries, queries, queries); // skip_first_layer_pe: no residual
    else {
      const q = g.op('Add', [queries, queryPe]);
      queries = g.op('Add', [queries, attention(`${L}.self_attn`, q, q, queries)]);
    }
    queries = norm(queries, `${L}.norm1`);
    let q = g.op('Add', [queries, queryPe]),
      k = g.op('Add', [keysT, keyPe]);
    // The first layer's image rows are the same for every prompt ([1, HW, C]): their projections
    // are made once, so the usual form is the cheaper one there.
    const t2i = i === 0 ? attention : tokenToImage;
    queries = norm(g.op('Add', [queries, t2i(`${L}.cross_attn_token_to_image`, q, k, keysT)]), `${L}.norm2`);
    const mlpDim = md(`${L}.mlp.lin1.weight`).shape[0];
    const h1 = g.op('Relu', [
      addBias(
        g,
        g.op('MatMul', [queries, linearT(g, `${L}.mlp.lin1.T`, md(`${L}.mlp.lin1.weight`), mlpDim, C)]),
        f32Init(g, `${L}.mlp.lin1.bias`, md(`${L}.mlp.lin1.bias`), [mlpDim]),
      ),
    ]);
    const h2 = addBias(
      g,
      g.op('MatMul', [h1, linearT(g, `${L}.mlp.lin2.T`, md(`${L}.mlp.lin2.weight`), C, mlpDim)]),
      f32Init(g, `${L}.mlp.lin2.bias`, md(`${L}.mlp.lin2.bias`), [C]),
    );
    queries = norm(g.op('Add', [queries, h2]), `${L}.norm3`);
    q = g.op('Add', [queries, queryPe]);
    k = g.op('Add', [keysT, keyPe]);
    keysT = norm(g.op('Add', [keysT, imageToToken(`${L}.cross_attn_image_to_token`, k, q, queries, i === 0)]), `${L}.norm4`);
  }
  const qf = g.op('Add', [queries, queryPe]),
    kf = g.op('Add', [keysT, keyPe]);
  const tf = depth === 0 ? attention : tokenToImage;
  queries = norm(g.op('Add', [queries, tf('transformer.final_attn_token_to_image', qf, kf, keysT)]), 'transformer.norm_final_attn');

  // ---- outputs: upscaled image features, hypernetwork masks, IoU ----
  // output_upscaling is two ConvTranspose(k=2, s=2) with a LayerNorm2d and GELUs between. A kernel
  // equal to its stride makes each a per-pixel linear map to 2×2 sub-pixels, so it runs here as
  // MatMuls on channels-last rows [B, pixels, C] (ONNX Runtime's ConvTranspose ran at a tenth of
  // the GEMM's speed and needed NCHW↔NHWC transposes of the largest tensors around the LayerNorm).
  // The LayerNorm and GELUs act per pixel, so the rows may stay in sub-pixel order (pixel, 2×2,
  // 2×2) and only the few final masks are put in raster order. Same sums, another order.
  const C4 = C / 4,
    C8 = C / 8;
  const up1 = subPixelLinear(g, keysT, 'md.up0', md('output_upscaling.0.weight').expectShape([C, C4, 2, 2]), md('output_upscaling.0.bias'), batch); // [B, 4·HW, C4]
  const ln = layerNorm(g, up1, 'md.up1', md('output_upscaling.1.weight'), md('output_upscaling.1.bias'), C4, 1e-6);
  const up2 = gelu(
    g,
    subPixelLinear(g, gelu(g, ln), 'md.up3', md('output_upscaling.3.weight').expectShape([C4, C8, 2, 2]), md('output_upscaling.3.bias'), batch),
  ); // [B, 16·HW, C8]
  const mlp3 = (x: string, name: string, dims: number[]) => {
    let h = x;
    for (let l = 0; l < dims.length - 1; l++) {
      const w: CheckpointTensor = md(`${name}.layers.${l}.weight`).expectShape([dims[l + 1], dims[l]]);
      h = addBias(
        g,
        g.op('MatMul', [h, linearT(g, `${name}.${l}.T`, w, dims[l + 1], dims[l])]),
        f32Init(g, `${name}.${l}.bias`, md(`${name}.layers.${l}.bias`), [dims[l + 1]]),
      );
      if (l < dims.length - 2) h = g.op('Relu', [h]);
    }
    return h;
  };
  const token = (i: number) => g.op('Gather', [queries, g.int64(g.tmp('tok'), [i], [])], { axis: 1 }); // [B, C]
  // multimask_output: masks 1..3; otherwise mask 0 alone (mask_decoder.py's slice), so only those
  // hypernetworks run.
  const multimask = options.multimask ?? true;
  const [from, to] = multimask ? [1, tokens] : [0, 1];
  const M = to - from;
  const hyperT = g.op(
    'Concat',
    Array.from({ length: M }, (_, i) =>
      g.op('Unsqueeze', [mlp3(token(1 + from + i), `output_hypernetworks_mlps.${from + i}`, [C, C, C, C8]), g.int64(g.tmp('ax2'), [2])]),
    ),
    { axis: 2 },
  ); // [B, C8, M]
  // [B, 16·HW, M] in sub-pixel order (y, x, kh, kw, kh2, kw2) → raster [B, M, 4G, 4G]: row 4y + 2kh + kh2, column 4x + 2kw + kw2.
  const subPixel = g.op('Reshape', [g.op('MatMul', [up2, hyperT]), g.op('Concat', [batch, g.int64('shape_sub', [G, G, 2, 2, 2, 2, M])], { axis: 0 })]);
  g.op(
    'Reshape',
    [g.op('Transpose', [subPixel], { perm: [0, 7, 1, 3, 5, 2, 4, 6] }), g.op('Concat', [batch, g.int64('shape_masks', [M, 4 * G, 4 * G])], { axis: 0 })],
    {},
    ['low_res_masks'],
  );
  const iouHidden = md('iou_prediction_head.layers.0.weight').shape[0];
  const iou = mlp3(token(0), 'iou_prediction_head', [C, iouHidden, iouHidden, tokens]);
  g.op('Slice', [iou, g.int64('i0', [from]), g.int64('i1', [to]), g.int64('iax', [1])], {}, ['iou_predictions']);
  g.output('low_res_masks', 'float', ['B', to - from, 4 * G, 4 * G]);
  g.output('iou_predictions', 'float', ['B', to - from]);
  return { graph: g, dim: C, depth };
}

/**
 * ConvTranspose(kernel 2, stride 2) of channels-last rows x [B, P, Cin] with weight [Cin, Cout, 2, 2]
 * as one MatMul: [B, 4·P, Cout], row 4p + 2kh + kw being sub-pixel (kh, kw) of pixel p.
 */
function subPixelLinear(g: GraphBuilder, x: string, name: string, w: CheckpointTensor, bias: CheckpointTensor, batch: string): string {
  const [cin, cout] = w.shape;
  // As a Linear's [out, in] weight, out = 4·Cout in (kh, kw, c) order.
  const weight = () => {
    const src = w.float32(),
      out = new Float32Array(4 * cout * cin);
    for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) for (let k = 0; k < 4; k++) out[(k * cout + o) * cin + i] = src[(i * cout + o) * 4 + k];
    return out;
  };
  const b = bias.expectShape([cout]).float32();
  const y = g.op('MatMul', [x, linearT(g, `${name}.weight.T`, weight, 4 * cout, cin)]);
  const tiled = g.float(
    `${name}.bias4`,
    [4 * cout],
    Float32Array.from({ length: 4 * cout }, (_, i) => b[i % cout]),
  );
  return g.op('Reshape', [g.op('Add', [y, tiled]), g.op('Concat', [batch, g.int64(`${name}.rows`, [-1, cout])], { axis: 0 })]);
}

/** The official predictor's encoding of one point per prompt, plus its padding point: [B, 2, C]. */
function pointPrompt(g: GraphBuilder, C: number, S: number, F: CheckpointTensor, pe: (n: string) => CheckpointTensor): { sparse: string; batch: string } {
  const coords = g.input('point_coords', 'float', ['B', 1, 2]);
  const labels = g.input('point_labels', 'float', ['B', 1]);
  const gauss32 = f32Init(g, 'pe.gaussian', F, [2, C / 2]);
  const peOf = (xy01: string) => {
    // [.., 2] in [0, 1] → [sin, cos] of 2π·(2c − 1)·Gauss
    const c = g.op('Sub', [g.op('Mul', [xy01, g.float(g.tmp('two'), [], [2])]), g.float(g.tmp('one'), [], [1])]);
    const proj = g.op('Mul', [g.op('MatMul', [c, gauss32]), g.float(g.tmp('twopi'), [], [2 * Math.PI])]);
    return g.op('Concat', [g.op('Sin', [proj]), g.op('Cos', [proj])], { axis: -1 });
  };
  const shifted = g.op('Div', [g.op('Add', [coords, g.float('half_px', [], [0.5])]), g.float('frame', [], [S])]); // [B, 1, 2]
  const pointPe = peOf(shifted); // [B, 1, C]
  const lab = g.op('Unsqueeze', [labels, g.int64('ax_last', [2])]); // [B, 1, 1]
  const is = (v: number) => g.op('Cast', [g.op('Equal', [lab, g.float(g.tmp('label'), [], [v])])], { to: 1 });
  const emb = (name: string, n: string) => f32Init(g, name, pe(n), [1, 1, C]);
  const notAPoint = emb('pe.not_a_point', 'not_a_point_embed.weight');
  const labelled = g.op('Add', [
    g.op('Add', [pointPe, g.op('Mul', [is(0), emb('pe.point0', 'point_embeddings.0.weight')])]),
    g.op('Mul', [is(1), emb('pe.point1', 'point_embeddings.1.weight')]),
  ]);
  const user = g.op('Where', [
    g.op('Equal', [lab, g.float('minus_one', [], [-1])]),
    g.op('Add', [g.op('Mul', [pointPe, g.float('zero_f', [], [0])]), notAPoint]),
    labelled,
  ]);
  const batch = g.op('Gather', [g.op('Shape', [coords]), g.int64('zero', [0])], { axis: 0 });
  const padTok = g.op('Expand', [notAPoint, g.op('Concat', [batch, g.int64('shape_1C', [1, C])], { axis: 0 })]); // the padding point
  return { sparse: g.op('Concat', [user, padTok], { axis: 1 }), batch }; // [B, 2, C]
}

/** Sparse prompt embeddings given as they are (LISA's projected [SEG] states): [B, n, C]. */
function embeddingPrompt(g: GraphBuilder, C: number): { sparse: string; batch: string } {
  const sparse = g.input('sparse_embeddings', 'float', ['B', 'n', C]);
  return { sparse, batch: g.op('Gather', [g.op('Shape', [sparse]), g.int64('zero', [0])], { axis: 0 }) };
}

/** get_dense_pe(): the PE of every cell centre ((x + ½)/G, (y + ½)/G), x before y, as [1, G·G, C]. */
function densePe(gauss: Float32Array, half: number, G: number): Float32Array {
  const out = new Float32Array(G * G * 2 * half);
  for (let y = 0; y < G; y++)
    for (let x = 0; x < G; x++) {
      const cx = (2 * (x + 0.5)) / G - 1,
        cy = (2 * (y + 0.5)) / G - 1;
      const o = (y * G + x) * 2 * half;
      for (let f = 0; f < half; f++) {
        const v = 2 * Math.PI * (cx * gauss[f] + cy * gauss[half + f]);
        out[o + f] = Math.sin(v);
        out[o + half + f] = Math.cos(v);
      }
    }
  return out;
}
