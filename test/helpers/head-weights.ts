/** Random head weights for any config, named as README.md documents them. */
import type { HeadConfig } from '../../lib/head.js';
import { uniform } from './random.js';
import type { Weights } from '../reference/head-reference.js';

export function randomHeadWeights(
  rng: () => number,
  c: HeadConfig,
  opts: { biases?: 'all' | 'some' | 'none'; hreOut?: boolean; fusionInternal?: number } = {},
): Weights {
  const w: Weights = {};
  const biases = opts.biases ?? 'some';
  const lin = (name: string, out: number, inDim: number, forceBias = false) => {
    w[`${name}.weight`] = { shape: [out, inDim], data: uniform(rng, out * inDim, 1.5 / Math.sqrt(inDim)) };
    const withBias = forceBias || biases === 'all' || (biases === 'some' && rng() < 0.5);
    if (withBias) w[`${name}.bias`] = { shape: [out], data: uniform(rng, out, 0.3) };
  };
  const norm = (name: string) => {
    w[`${name}.weight`] = { shape: [c.dim], data: uniform(rng, c.dim, 0.5).map((v) => 1 + v) };
    w[`${name}.bias`] = { shape: [c.dim], data: uniform(rng, c.dim, 0.2) };
  };
  const attn = (name: string, internal: number, withOut: boolean) => {
    lin(`${name}.q_proj`, internal, c.dim);
    lin(`${name}.k_proj`, internal, c.dim);
    lin(`${name}.v_proj`, internal, c.dim);
    if (withOut) lin(`${name}.out_proj`, c.dim, internal);
  };
  const d = c.dim;
  lin('hrp.input_proj', d, c.featureDim);
  if (c.hrp) for (const p of ['q', 'k', 'v']) lin(`hrp.region_attn.${p}_proj`, d, d); // none in an LLM-Seg head
  for (let l = 0; l < c.hreLayers; l++) {
    attn(`hre.layers.${l}.attn`, d, opts.hreOut ?? c.hreHeads > 1);
    norm(`hre.layers.${l}.norm`);
  }
  lin('text_hidden_fcs.0.0', c.hiddenSize, c.hiddenSize, true);
  lin('text_hidden_fcs.0.2', d, c.hiddenSize, true);
  const internal = opts.fusionInternal ?? d;
  for (let b = 0; b < c.fusionBlocks; b++) {
    const p = `fusion.layers.${b}`;
    attn(`${p}.self_attn`, internal, true);
    norm(`${p}.norm1`);
    attn(`${p}.cross_attn_token_to_image`, internal, true);
    norm(`${p}.norm2`);
    lin(`${p}.mlp.lin1`, c.fusionMlpDim, d, true);
    lin(`${p}.mlp.lin2`, d, c.fusionMlpDim, true);
    norm(`${p}.norm3`);
    attn(`${p}.cross_attn_image_to_token`, internal, true);
    norm(`${p}.norm4`);
  }
  attn('fusion.final_attn_token_to_image', internal, true);
  norm('fusion.norm_final_attn');
  lin('iop_head.layers.0', c.iopHidden, d, true);
  lin('iop_head.layers.1', 1, c.iopHidden, true);
  lin('embed_head.layers.0', c.embedHidden, d, true);
  lin('embed_head.layers.1', d, c.embedHidden, true);
  return w;
}

export function toStored(w: Weights) {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, { dtype: 'F32' as const, shape: v.shape, data: v.data }]));
}

/** K random blob-like proposals [K, H, W]: rectangles and discs, some empty, one whole-image. */
export function randomProposals(rng: () => number, K: number, H: number, W: number, opts: { empty?: boolean; whole?: boolean } = {}): Uint8Array {
  const m = new Uint8Array(K * H * W);
  for (let k = 0; k < K; k++) {
    if (opts.empty) continue;
    if (opts.whole && k === 0) {
      m.fill(1, 0, H * W);
      continue;
    }
    const cy = rng() * H,
      cx = rng() * W,
      ry = 1 + rng() * H * 0.5,
      rx = 1 + rng() * W * 0.5;
    const disc = rng() < 0.5;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const dy = (y - cy) / ry,
          dx = (x - cx) / rx;
        const inside = disc ? dy * dy + dx * dx <= 1 : Math.abs(dy) <= 1 && Math.abs(dx) <= 1;
        if (inside) m[k * H * W + y * W + x] = 1;
      }
  }
  return m;
}
