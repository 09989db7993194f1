/**
 * A tiny DINOv2-shaped encoder (dino/encoder.onnx: pixel_values [V, 3, D, D] → patch_tokens
 * [V, (D/14)², C]; D = 518 by default, 896 for the llm-seg twin) whose features are known by
 * construction: each 14 × 14 patch's mean colour is
 * compared with a palette, and the token is the softmax of −distance² / σ over the palette, padded
 * with zeros to C. So a token is (nearly) the one-hot of its patch's palette colour.
 */
import { GraphBuilder } from '../../lib/onnx/graph.js';

/** The demo palette: the tiny VLM's eight colour words in order, then black (the background). */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [220, 30, 30], // red
  [30, 200, 40], // green
  [40, 50, 220], // blue
  [230, 220, 40], // yellow
  [20, 210, 220], // cyan
  [210, 40, 200], // magenta
  [240, 240, 240], // white
  [240, 140, 20], // orange
  [0, 0, 0], // black
];

const MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255];
const STD = [0.229 * 255, 0.224 * 255, 0.225 * 255];

export function tinyDinoEncoder(featureDim = 16, sigma = 0.05, size = 518): Uint8Array {
  const P = PALETTE.length;
  if (featureDim < P) throw new Error(`featureDim must be at least ${P}`);
  if (size % 14 !== 0) throw new Error(`size must be a multiple of the patch size 14`);
  const T = (size / 14) ** 2;
  const g = new GraphBuilder();
  const x = g.input('pixel_values', 'float', ['V', 3, size, size]);
  const pooled = g.op('AveragePool', [x], { kernel_shape: [14, 14], strides: [14, 14] }); // [V, 3, n, n]
  const tokens = g.op('Transpose', [g.op('Reshape', [pooled, g.int64('shape_v3t', [0, 3, T])])], { perm: [0, 2, 1] }); // [V, T, 3]
  // The palette in the normalised space the encoder sees: [P, 3].
  const palette = new Float32Array(P * 3);
  PALETTE.forEach((c, i) => c.forEach((v, ch) => (palette[i * 3 + ch] = (v - MEAN[ch]) / STD[ch])));
  const diff = g.op('Sub', [g.op('Unsqueeze', [tokens, g.int64('ax2', [2])]), g.float('palette', [1, 1, P, 3], palette)]); // [V, T, P, 3]
  const dist = g.op('ReduceSum', [g.op('Mul', [diff, diff]), g.int64('ax3', [3])], { keepdims: 0 }); // [V, T, P]
  const member = g.op('Softmax', [g.op('Mul', [dist, g.float('neg_inv_sigma', [], [-1 / sigma])])], { axis: -1 });
  g.op('Pad', [member, g.int64('pads', [0, 0, 0, 0, 0, featureDim - P])], { mode: 'constant' }, ['patch_tokens']);
  g.output('patch_tokens', 'float', ['V', T, featureDim]);
  return g.encode();
}
