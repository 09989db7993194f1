/**
 * The image step of the head (HRP + HRE) as an ONNX graph of standard operators, the way a
 * PyTorch export would express it: the baseline the native head is measured against.
 * Mask pooling follows the definition (resize the padded masks to P×P — ONNX Resize with antialias,
 * opset 18, for the default bilinear-antialias; AveragePool for 'area' — bilinearly upsample F_h, weigh).
 */
import type { HeadConfig } from '../../lib/head.js';
import type { Weights } from '../reference/head-reference.js';
import { GraphBuilder } from '../../lib/onnx/graph.js';

export function imageStepOnnx(w: Weights, c: HeadConfig, K: number, S: number): Uint8Array {
  const g = new GraphBuilder();
  const { globalGrid: ng, magnification: N, dim: d, featureDim: C, poolSize: P } = c;
  const nl = N * ng;
  const fg = g.input('fg', 'float', [ng * ng, C]);
  const fl = g.input('fl', 'float', [nl * nl, C]);
  const masks = g.input('masks', 'float', [K, 1, S, S]);
  const weight = (name: string) => {
    const t = w[`${name}.weight`];
    return g.float(`${name}.weight`, t.shape, t.data);
  };
  const bias = (name: string, out: number) => {
    const t = w[`${name}.bias`];
    return g.float(`${name}.bias`, [out], t ? t.data : new Float32Array(out));
  };
  const gemm = (x: string, name: string, out: number) => g.op('Gemm', [x, weight(name), bias(name, out)], { transB: 1 });
  const shape = (dims: number[]) => g.int64(g.tmp('shape'), dims);

  const xg = gemm(fg, 'hrp.input_proj', d);
  const xlW = g.op('Gemm', [fl, 'hrp.input_proj.weight', 'hrp.input_proj.bias'], { transB: 1 });
  // Region attention: gather each cell's N×N window with reshape/transpose, then batched matmuls.
  const q = g.op('Reshape', [gemm(xg, 'hrp.region_attn.q_proj', d), shape([ng * ng, 1, d])]);
  const window = (x: string) =>
    g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [x, shape([ng, N, ng, N, d])])], { perm: [0, 2, 1, 3, 4] }), shape([ng * ng, N * N, d])]);
  const k = window(gemm(xlW, 'hrp.region_attn.k_proj', d));
  const v = window(gemm(xlW, 'hrp.region_attn.v_proj', d));
  const scale = g.float('scale_d', [], [1 / Math.sqrt(d)]);
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]), scale]);
  const fr = g.op('Reshape', [g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]), shape([ng * ng, d])]);
  const gamma = g.float('gamma', [], [c.gamma]);
  const oneMinus = g.float('one_minus_gamma', [], [1 - c.gamma]);
  const fh = g.op('Add', [g.op('Mul', [xg, gamma]), g.op('Mul', [fr, oneMinus])]);
  // Mask pooling by the definition.
  const resized =
    c.maskResize === 'area'
      ? g.op('AveragePool', [masks], { kernel_shape: [S / P, S / P], strides: [S / P, S / P] })
      : g.op('Resize', [masks, '', '', shape([K, 1, P, P])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel', antialias: 1 });
  const wts = g.op('Reshape', [resized, shape([K, P * P])]);
  const grid = g.op('Reshape', [
    g.op('Transpose', [g.op('Reshape', [c.poolSource === 'hybrid' ? fh : fr, shape([ng, ng, d])])], { perm: [2, 0, 1] }),
    shape([1, d, ng, ng]),
  ]);
  const up = g.op('Resize', [grid, '', '', shape([1, d, P, P])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  const upT = g.op('Transpose', [g.op('Reshape', [up, shape([d, P * P])])], { perm: [1, 0] });
  const num = g.op('MatMul', [wts, upT]);
  const den = g.op('Add', [g.op('ReduceSum', [wts, g.int64('axis1', [1])], { keepdims: 1 }), g.float('eps', [], [1e-8])]);
  let m = g.op('Div', [num, den]);
  g.op('Identity', [m], {}, ['mHrp']);
  g.output('mHrp', 'float', [K, d]);
  // HRE.
  for (let l = 0; l < c.hreLayers; l++) {
    const p = `hre.layers.${l}`;
    const ql = gemm(m, `${p}.attn.q_proj`, d);
    const kl = gemm(fh, `${p}.attn.k_proj`, d);
    const vl = gemm(fh, `${p}.attn.v_proj`, d);
    const s = g.op('Mul', [g.op('MatMul', [ql, g.op('Transpose', [kl], { perm: [1, 0] })]), scale]);
    const a = g.op('MatMul', [g.op('Softmax', [s], { axis: -1 }), vl]);
    m = g.op('LayerNormalization', [g.op('Add', [m, a]), weight(`${p}.norm`), g.float(`${p}.norm.bias`, [d], w[`${p}.norm.bias`].data)], {
      axis: -1,
      epsilon: 1e-5,
    });
  }
  g.op('Identity', [m], {}, ['mHre']);
  g.output('mHre', 'float', [K, d]);
  return g.encode(18); // Resize with antialias needs opset 18
}
