/**
 * `--quantize-vision int8`: the vision graphs' linear layers with int8 weights and int8
 * activations, for ONNX Runtime's CPU provider. Every MatMul whose right side is a weight
 * (a 2-D float initializer Wᵀ [in, out]) becomes com.microsoft's DynamicQuantizeMatMul:
 *
 *   x (float) ──┐
 *   W_q [in, out] int8, symmetric per output channel (quantize.ts: round to nearest, clipping search)
 *   scale [out] ┴─ DynamicQuantizeMatMul ─ y (float)
 *
 * ONNX Runtime quantizes x per tensor (uint8, asymmetric) on each call and runs an int8 GEMM
 * (MLAS: AVX-512 VNNI, AMX tiles where the CPU has them), then scales back to float. Measured on
 * the SAM-H encoder (docs/quantization.md "Quantized vision"): 2.2× less CPU time than float32.
 * The standard DequantizeLinear → MatMul form (what the decoder's weight-only int8 uses) runs its
 * GEMM in float32 here and was no faster, and nothing standard in ONNX quantizes activations in a
 * form ONNX Runtime fuses reliably, hence the contrib op: a file TensorRT cannot build
 * (build-engines refuses it by name). Attention's products (activations on both sides), the
 * convolutions and the norms stay float32.
 */
import type { GraphBuilder, Initializer } from '../onnx/graph.js';
import { quantizeLinear } from './quantize.js';

/** The linear layers narrower than this many inputs stay float32 (too few terms per scale). */
const MIN_INPUTS = 32;

export const VISION_QUANTIZATION = 'int8-dynamic';

/** Rewrites `g`'s weight MatMuls in place; returns how many, and their names. */
export function quantizeVisionMatMuls(g: GraphBuilder): string[] {
  const { nodes, inits } = g.parts();
  const byName = new Map(inits.map((i) => [i.name, i]));
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  const done: string[] = [];
  for (const node of nodes) {
    if (node.opType !== 'MatMul' || node.domain) continue;
    const w = byName.get(node.input?.[1] ?? '');
    // A weight read by one MatMul only: one shared with another reader keeps its float32 form.
    if (!w || w.type !== 'float' || w.dims.length !== 2 || w.dims[0] < MIN_INPUTS || uses.get(w.name) !== 1) continue;
    const scale = quantizeInPlace(g, w);
    node.opType = 'DynamicQuantizeMatMul';
    node.domain = 'com.microsoft';
    node.input = [node.input![0], w.name, scale];
    done.push(w.name);
  }
  return done;
}

/**
 * The weights' codes stay within ±63 (7 bits): ONNX Runtime's AVX2 int8 GEMM (CPUs without VNNI)
 * multiplies uint8 activations by int8 weights with vpmaddubsw, which adds each pair of products
 * in 16 bits with saturation; 255 × 127 × 2 overflows it and the layer's result is wrong (seen on
 * an AVX2-only EPYC: errors of 38 % of the output's range), 255 × 63 × 2 = 32130 does not. One bit
 * of the weights' precision, on every CPU, so that a package gives the same answer on all of them.
 */
export const WEIGHT_CODE_MAX = 63;

/** Turns the float Wᵀ [in, out] initializer into its int8 codes and adds its [out] scale. */
function quantizeInPlace(g: GraphBuilder, w: Initializer): string {
  const [inDim, outDim] = w.dims;
  const read = w.bytes,
    release = w.release;
  let codes: Uint8Array | undefined, scales: Float32Array | undefined;
  // Quantized when the codes are written; the codes are dropped once written and the scales once
  // they are (at the end): one weight's float32 copy and codes at a time, as every initializer is.
  const quantize = () => {
    const bytes = read();
    const wt = new Float32Array(bytes.buffer, bytes.byteOffset, inDim * outDim);
    const rowMajor = new Float32Array(inDim * outDim); // quantizeLinear takes W [out, in]
    for (let i = 0; i < inDim; i++) for (let o = 0; o < outDim; o++) rowMajor[o * inDim + i] = wt[i * outDim + o];
    // The clipping range of the int8 quantizer (its search), then codes within ±WEIGHT_CODE_MAX.
    const r = quantizeLinear(rowMajor, outDim, inDim, { bits: 8, blockSize: 'channel' });
    scales = r.scales.map((s) => (s * 127) / WEIGHT_CODE_MAX);
    codes = new Uint8Array(inDim * outDim);
    const signed = new Int8Array(codes.buffer);
    for (let i = 0; i < inDim; i++)
      for (let o = 0; o < outDim; o++) {
        const q = scales[o] > 0 ? Math.round(wt[i * outDim + o] / scales[o]) : 0;
        signed[i * outDim + o] = Math.max(-WEIGHT_CODE_MAX, Math.min(WEIGHT_CODE_MAX, q));
      }
    release?.();
  };
  Object.assign(w, {
    type: 'int8',
    byteLength: inDim * outDim,
    bytes: () => {
      if (!codes) quantize();
      return codes!;
    },
    release: () => (codes = undefined),
  });
  return g.tensor(
    `${w.name}.scale`,
    'float',
    [outDim],
    () => {
      if (!scales) quantize();
      return new Uint8Array(scales!.buffer, scales!.byteOffset, 4 * outDim);
    },
    () => (scales = undefined),
  );
}
