/**
 * Head weights for the demo package, built by hand so that the head picks the proposal whose
 * colour the instruction names (with the tiny DINO, SAM and VLM of this folder):
 *
 * - HRP: the input projection and region attention's values are identities, queries and keys are
 *   zero (uniform attention over the N² local cells), so F_h and the pooled M_HRP are the palette
 *   memberships of each proposal; HRE adds nothing (zero values), its LayerNorms keep the one-hot
 *   shape.
 * - Text projection: copies h_seg's colour-share dims (the tiny VLM's 16..23) to t's dims 0..7.
 * - Fusion: everything zero except the second block's masks→text attention, which adds LN(t) to
 *   every mask token: a mask of the named colour stays one-peaked, any other gets two peaks.
 * - IoP head: ReLU(m − 3.2) summed: high only for one-peaked tokens (sigmoid ≈ 0.98 vs 0.05).
 * - Embedding head: ReLU keeps the peaks, so cos(t, e_k) is 1 for the named colour, ≈ 0.71 else.
 */
import type { HeadConfigInput } from '../../lib/head.js';
import { encodeSafetensors, f32 } from '../../lib/safetensors.js';
import { TINY_VLM } from './tiny-vlm.js';

export const DEMO_HEAD_CONFIG: HeadConfigInput = {
  featureDim: 16,
  dim: 16,
  globalGrid: 37,
  magnification: 2,
  hiddenSize: TINY_VLM.hidden,
  fusionBlocks: 2,
  fusionHeads: 8,
  fusionMlpDim: 32,
  iopHidden: 16,
  embedHidden: 16,
};

/**
 * The head without HRP and HRE (the llm-seg twin): the same hand-set weights minus region attention
 * and the HRE layers, which the llm-seg preset does not read (F_h = X_g, L = 0); the fusion's first
 * LayerNorm then does what HRE's did.
 */
export const DEMO_LLMSEG_HEAD_CONFIG: HeadConfigInput = (({ globalGrid: _g, magnification: _n, ...rest }) => rest)(DEMO_HEAD_CONFIG);

export function demoHeadWeights(options: { hrp?: boolean; hreLayers?: number } = {}): Buffer {
  const { hrp = true, hreLayers = 2 } = options;
  const d = 16, H = TINY_VLM.hidden, mlp = 32;
  const t: Record<string, ReturnType<typeof f32>> = {};
  const zeros = (n: number) => new Float32Array(n);
  const eye = (rows: number, cols: number, scale = 1) => {
    const m = zeros(rows * cols);
    for (let i = 0; i < Math.min(rows, cols); i++) m[i * cols + i] = scale;
    return m;
  };
  const lin = (name: string, out: number, inDim: number, w = zeros(out * inDim), b = zeros(out)) => {
    t[`${name}.weight`] = f32([out, inDim], w);
    t[`${name}.bias`] = f32([out], b);
  };
  const norm = (name: string) => {
    t[`${name}.weight`] = f32([d], new Float32Array(d).fill(1));
    t[`${name}.bias`] = f32([d], zeros(d));
  };
  const attn = (name: string, v = zeros(d * d), out = zeros(d * d)) => {
    lin(`${name}.q_proj`, d, d);
    lin(`${name}.k_proj`, d, d);
    lin(`${name}.v_proj`, d, d, v);
    lin(`${name}.out_proj`, d, d, out);
  };
  lin('hrp.input_proj', d, d, eye(d, d));
  if (hrp) {
    lin('hrp.region_attn.q_proj', d, d);
    lin('hrp.region_attn.k_proj', d, d);
    lin('hrp.region_attn.v_proj', d, d, eye(d, d));
  }
  for (let l = 0; l < hreLayers; l++) {
    lin(`hre.layers.${l}.attn.q_proj`, d, d);
    lin(`hre.layers.${l}.attn.k_proj`, d, d);
    lin(`hre.layers.${l}.attn.v_proj`, d, d);
    norm(`hre.layers.${l}.norm`);
  }
  const w1 = zeros(H * H);
  for (let c = 0; c < 8; c++) w1[c * H + TINY_VLM.colourMean + c] = 1;
  lin('text_hidden_fcs.0.0', H, H, w1);
  const w2 = zeros(d * H);
  for (let c = 0; c < 8; c++) w2[c * H + c] = 10;
  lin('text_hidden_fcs.0.2', d, H, w2);
  for (let b = 0; b < 2; b++) {
    const p = `fusion.layers.${b}`;
    attn(`${p}.self_attn`);
    norm(`${p}.norm1`);
    if (b === 1) attn(`${p}.cross_attn_token_to_image`, eye(d, d), eye(d, d));
    else attn(`${p}.cross_attn_token_to_image`);
    norm(`${p}.norm2`);
    lin(`${p}.mlp.lin1`, mlp, d);
    lin(`${p}.mlp.lin2`, d, mlp);
    norm(`${p}.norm3`);
    attn(`${p}.cross_attn_image_to_token`);
    norm(`${p}.norm4`);
  }
  attn('fusion.final_attn_token_to_image');
  norm('fusion.norm_final_attn');
  lin('iop_head.layers.0', 16, d, eye(16, d), new Float32Array(16).fill(-3.2));
  lin('iop_head.layers.1', 1, 16, new Float32Array(16).fill(10), Float32Array.from([-3]));
  lin('embed_head.layers.0', 16, d, eye(16, d));
  lin('embed_head.layers.1', d, 16, eye(d, 16));
  return encodeSafetensors(t, { producer: 'hrseg scripts/models/demo-head.ts (built for testing, not trained)' });
}
