/**
 * Building blocks the graph builders share: checkpoint tensors as lazily converted float32
 * initializers (read from the mapped file only when the model is written, one at a time), linear
 * weights transposed for MatMul, LayerNorm.
 */
import type { CheckpointTensor } from '../checkpoint/index.js';
import type { GraphBuilder } from '../onnx/graph.js';

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * A float32 initializer from a checkpoint tensor, its shape checked now (reshaped to `dims` when
 * they hold the same count). The tensor's pages are let go once the initializer is written.
 */
export function f32Init(g: GraphBuilder, name: string, t: CheckpointTensor, dims: number[]): string {
  const n = dims.reduce((a, b) => a * b, 1);
  if (t.numel !== n) t.expectShape(dims); // throws, naming both shapes
  return g.tensor(
    name,
    'float',
    dims,
    () => bytesOf(t.float32()),
    () => t.release(),
  );
}

/**
 * W [out, in] (PyTorch's Linear layout) as Wᵀ [in, out], so that y = MatMul(x, Wᵀ). Given a
 * checkpoint tensor (shape checked now) or several stacked along `out` (q, k, v), whose pages (and
 * any computed copy, e.g. a LoRA merge) are let go as soon as the transpose is made; or a getter.
 */
export function linearT(
  g: GraphBuilder,
  name: string,
  weight: CheckpointTensor | CheckpointTensor[] | (() => Float32Array),
  out: number,
  inDim: number,
): string {
  let read: () => Float32Array;
  if (typeof weight === 'function') read = weight;
  else {
    const parts = Array.isArray(weight) ? weight : [weight];
    if (parts.length === 1) parts[0].expectShape([out, inDim]);
    else if (parts.reduce((a, p) => a + p.shape[0], 0) !== out || parts.some((p) => p.shape[1] !== inDim))
      throw new Error(`${name}: parts [${parts.map((p) => p.shape.join('×')).join(', ')}] do not stack to ${out}×${inDim}`);
    read = () => {
      const w = new Float32Array(out * inDim);
      let o = 0;
      for (const p of parts) {
        w.set(p.float32(), o);
        o += p.numel;
        p.release();
      }
      return w;
    };
  }
  return g.tensor(name, 'float', [inDim, out], () => {
    const w = read();
    if (w.length !== out * inDim) throw new Error(`${name}: ${w.length} values, expected ${out}×${inDim}`);
    const t = new Float32Array(out * inDim);
    for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) t[i * out + o] = w[o * inDim + i];
    return bytesOf(t);
  });
}

export function addBias(g: GraphBuilder, x: string, bias: string | undefined): string {
  return bias ? g.op('Add', [x, bias]) : x;
}

/** LayerNormalization over the last axis (opset 17). */
export function layerNorm(g: GraphBuilder, x: string, name: string, w: CheckpointTensor, b: CheckpointTensor, C: number, eps: number): string {
  return g.op('LayerNormalization', [x, f32Init(g, `${name}.weight`, w, [C]), f32Init(g, `${name}.bias`, b, [C])], { axis: -1, epsilon: { float: eps } });
}

/** GELU with erf (nn.GELU's default), in opset-17 operators. */
export function gelu(g: GraphBuilder, x: string): string {
  // Written in the order PyTorch exports it (Div by sqrt 2, Erf, Add 1, Mul x, Mul 0.5) because that is the
  // pattern ONNX Runtime's GeluFusion recognises; the algebraically equal x*0.5*(1+erf(x*rsqrt2)) is left
  // as five elementwise passes, which cost a fifth of the SAM decoder's time.
  const erf = g.op('Erf', [g.op('Div', [x, g.float(g.tmp('sqrt2'), [], [Math.SQRT2])])]);
  const onePlus = g.op('Add', [erf, g.float(g.tmp('one'), [], [1])]);
  return g.op('Mul', [g.op('Mul', [x, onePlus]), g.float(g.tmp('half'), [], [0.5])]);
}
