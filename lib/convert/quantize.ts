/**
 * Weight-only quantization of linear layers: round to nearest, blockwise along the input
 * dimension, written as the standard ONNX form both backends build from:
 *
 *   W_q [in, out] (INT4 or INT8) ─┐
 *   scale [in/B, out] (float) ────┴─ DequantizeLinear(axis 0, block_size B) ─ MatMul(x, ·)
 *
 * (opset 21). TensorRT 10/11 builds weight-only INT4/INT8 GEMMs from exactly this: symmetric
 * quantization only (no zero point, or an all-zero one), the scale a build-time constant of the
 * same rank as the weights (TensorRT "Working with Quantized Types"; IDequantizeLayer). ONNX
 * Runtime's CPU provider (1.30, the version shipped) fuses the same DQ → MatMul into its
 * MatMulNBits kernel (measured: README "Quantized decoders"), so one file serves both.
 *
 * Symmetric (the default, and the only form TensorRT takes): q = clamp(round(w / s), −2^(b−1),
 * 2^(b−1) − 1), s = max|w| / (2^(b−1) − 1) per block. Asymmetric (zero points, CPU only): uint
 * codes, s = (max − min) / (2^b − 1), z = clamp(round(−min / s)). Rounding is half to even, as
 * numpy and PyTorch round. An all-zero block gets scale 1 (its codes are 0).
 */
import { HrsegError, callNative } from '../errors.js';
import { native } from '../native.js';
import type { GraphBuilder } from '../onnx/graph.js';

export type QuantBits = 4 | 8;

export interface QuantizeOptions {
  bits: QuantBits;
  /**
   * Elements per block along the input dimension (default 32), or 'channel': one scale per
   * output channel (the whole input dimension), written as per-channel DequantizeLinear (axis 1,
   * a 1-D scale): the only INT8 weight form TensorRT takes (IDequantizeLayer blocks INT4/FP4/FP8 only).
   */
  blockSize?: number | 'channel';
  /** Zero points (uint codes): smaller error, but TensorRT refuses them. Default false. */
  asymmetric?: boolean;
  /**
   * Per block, the scale is chosen among max·r for r in 1, 0.95 … 0.7 (kClipRatios in
   * native/core/include/hrseg/quantize.h) by the smallest squared error
   * of the block (still round to nearest; clipping a block's largest weight a little lets the rest
   * use finer steps). Default true.
   */
  clipSearch?: boolean;
}

export interface QuantizedWeight {
  bits: QuantBits;
  asymmetric: boolean;
  blockSize: number;
  inDim: number;
  outDim: number;
  /** The codes of Wᵀ [in, out] row-major: int4/uint4 two per byte (first in the low nibble), int8/uint8 one. */
  codes: Uint8Array;
  /** [in / blockSize, out] */
  scales: Float32Array;
  /** [in / blockSize, out] codes of the zero points (asymmetric only), packed like `codes`. */
  zeroPoints?: Uint8Array;
}

function unpack(bytes: Uint8Array, n: number, bits: QuantBits, signed: boolean): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let v = bits === 8 ? bytes[i] : (bytes[i >> 1] >> ((i & 1) * 4)) & 0xf;
    if (signed && v >= 1 << (bits - 1)) v -= 1 << bits;
    out[i] = v;
  }
  return out;
}

/** Inputs per block: `blockSize`, the whole input for 'channel', 32 by default. */
export function blockOf(options: QuantizeOptions, inDim: number): number {
  return options.blockSize === 'channel' ? inDim : (options.blockSize ?? 32);
}

/**
 * Quantizes W [out, in] (PyTorch's Linear layout, as checkpoints hold it) into the codes of
 * Wᵀ [in, out], blocks of `blockSize` consecutive inputs per output. The work is native
 * (native/core/src/quantize.cc, on the thread pool): a 7B decoder has 6.5 G weights.
 */
export function quantizeLinear(w: Float32Array, outDim: number, inDim: number, options: QuantizeOptions): QuantizedWeight {
  const { bits } = options;
  const B = blockOf(options, inDim),
    asymmetric = options.asymmetric ?? false;
  if (bits !== 4 && bits !== 8) throw new HrsegError('INVALID_ARGUMENT', `quantize: bits must be 4 or 8, got ${bits}`);
  if (!Number.isInteger(B) || B < 2 || inDim % B !== 0)
    throw new HrsegError('INVALID_ARGUMENT', `quantize: block size ${B} does not divide the input dimension ${inDim}`);
  if (w.length !== outDim * inDim) throw new HrsegError('INTERNAL', `quantize: ${w.length} weights for ${outDim}×${inDim}`);
  const r = callNative(() => native().quantizeBlockwise(w, outDim, inDim, bits, B, asymmetric, options.clipSearch ?? true));
  return { bits, asymmetric, blockSize: B, inDim, outDim, codes: r.codes, scales: r.scales, ...(r.zeroPoints ? { zeroPoints: r.zeroPoints } : {}) };
}

/** Wᵀ [in, out] back in float32, as DequantizeLinear computes it: (q − z)·s. */
export function dequantizeLinear(q: QuantizedWeight): Float32Array {
  const { inDim, outDim, blockSize: B } = q;
  const codes = unpack(q.codes, inDim * outDim, q.bits, !q.asymmetric);
  const zps = q.zeroPoints ? unpack(q.zeroPoints, q.scales.length, q.bits, false) : undefined;
  const out = new Float32Array(inDim * outDim);
  for (let i = 0; i < inDim; i++)
    for (let o = 0; o < outDim; o++) {
      const k = Math.floor(i / B) * outDim + o;
      out[i * outDim + o] = Math.fround((codes[i * outDim + o] - (zps ? zps[k] : 0)) * q.scales[k]);
    }
  return out;
}

/**
 * The DequantizeLinear of a weight quantized on demand (when the graph is written, once, the
 * weight's pages let go after): returns the name of Wᵀ [in, out] in float, ready for MatMul.
 */
export function quantizedWeight(
  g: GraphBuilder,
  name: string,
  read: () => Float32Array,
  outDim: number,
  inDim: number,
  options: QuantizeOptions,
  release?: () => void,
): string {
  const channel = options.blockSize === 'channel';
  const B = blockOf(options, inDim),
    asym = options.asymmetric ?? false;
  if (inDim % B !== 0) throw new HrsegError('INVALID_ARGUMENT', `quantize: block size ${B} does not divide ${name}'s input dimension ${inDim}`);
  let cached: QuantizedWeight | undefined;
  let pending = asym ? 3 : 2;
  const get = () => (cached ??= quantizeLinear(read(), outDim, inDim, options));
  const done = () => {
    if (--pending === 0) {
      cached = undefined;
      release?.();
    }
  };
  const type = options.bits === 4 ? (asym ? 'uint4' : 'int4') : asym ? 'uint8' : 'int8';
  const nb = inDim / B;
  // Per channel: the same [1, out] scales as a 1-D [out] along axis 1.
  const scaleDims = channel ? [outDim] : [nb, outDim];
  const inputs = [
    g.tensor(`${name}.q`, type, [inDim, outDim], () => get().codes, done),
    g.tensor(`${name}.scale`, 'float', scaleDims, () => new Uint8Array(get().scales.buffer), done),
    ...(asym ? [g.tensor(`${name}.zero`, type, scaleDims, () => get().zeroPoints!, done)] : []),
  ];
  return g.op('DequantizeLinear', inputs, channel ? { axis: 1 } : { axis: 0, block_size: B }, [`${name}.dq`]);
}
