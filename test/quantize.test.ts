/**
 * Weight-only quantization (lib/convert/quantize.ts): the blockwise codes and scales against an
 * independent float64 reference of the formula on fresh random weights, and the DequantizeLinear →
 * MatMul graph on ONNX Runtime (fused into MatMulNBits) against float64.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { dequantizeLinear, quantizeLinear, quantizedWeight, type QuantizeOptions } from '../lib/convert/quantize.js';
import { GraphBuilder } from '../lib/onnx/graph.js';
import { freshSeed, heavy, makeRng, uniform } from './helpers/random.js';

/** ORT's fused MatMulNBits: accuracy level 1 computes in float32, 4 quantizes activations to int8. */
const sessionOptions = (level: string) => ({ extra: { session: { qdq_matmulnbits_accuracy_level: level } } }) as ort.InferenceSession.SessionOptions;
const seed = freshSeed();
const rng = makeRng(seed);

/** The blockwise formula in float64, written independently of quantize.ts. */
function reference(w: Float32Array, out: number, inDim: number, o: QuantizeOptions): Float64Array {
  const B = o.blockSize === 'channel' ? inDim : (o.blockSize ?? 32),
    bits = o.bits;
  const wt = new Float64Array(inDim * out);
  for (let r = 0; r < out; r++)
    for (let b = 0; b < inDim / B; b++) {
      const block = Array.from(w.subarray(r * inDim + b * B, r * inDim + (b + 1) * B));
      const even = (x: number) => {
        const f = Math.floor(x);
        return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
      };
      // Every clipping ratio tried, the one with the smallest squared error kept (first on ties).
      const ratios = o.clipSearch === false ? [1] : [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7];
      let best: number[] | undefined,
        bestErr = Infinity;
      for (const r of ratios) {
        let deq: number[];
        if (o.asymmetric) {
          const qmax = 2 ** bits - 1,
            mn = Math.min(0, ...block),
            mx = Math.max(0, ...block);
          const s = Math.fround(((mx - mn) * r) / qmax) || 1;
          const z = Math.min(qmax, Math.max(0, even((-mn * r) / s)));
          deq = block.map((v) => (Math.min(qmax, Math.max(0, even(v / s) + z)) - z) * s);
        } else {
          const qmax = 2 ** (bits - 1) - 1,
            s = Math.fround((Math.max(...block.map(Math.abs)) * r) / qmax) || 1;
          deq = block.map((v) => Math.min(qmax, Math.max(-qmax - 1, even(v / s))) * s);
        }
        const err = deq.reduce((a, v, i) => a + (v - block[i]) ** 2, 0);
        if (err < bestErr) {
          best = deq;
          bestErr = err;
        }
      }
      best!.forEach((v, i) => (wt[(b * B + i) * out + r] = v));
    }
  return wt;
}

describe(`blockwise round-to-nearest (seed ${seed})`, () => {
  for (const o of [
    { bits: 4, blockSize: 32 },
    { bits: 4, blockSize: 128, asymmetric: true },
    { bits: 8, blockSize: 64 },
    { bits: 8, blockSize: 32, asymmetric: true },
    { bits: 4, blockSize: 64, clipSearch: false },
    { bits: 8, blockSize: 'channel' },
  ] as QuantizeOptions[])
    it(`int${o.bits}, block ${o.blockSize}, ${o.asymmetric ? 'zero points' : 'symmetric'}${o.clipSearch === false ? ', no clip search' : ''}: dequantized equals the float64 formula`, () => {
      const out = 24,
        inDim = 256;
      const w = heavy(rng, out * inDim, 0.05);
      w.fill(0, 0, o.blockSize === 'channel' ? inDim : o.blockSize!); // an all-zero block (a whole row per channel)
      const got = dequantizeLinear(quantizeLinear(w, out, inDim, o));
      const want = reference(w, out, inDim, o);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (Math.abs(want[i]) + 1e-6));
      expect(worst).toBeLessThan(1e-6);
    });

  it('refuses a block size that does not divide the input dimension, and other bit widths', () => {
    expect(() => quantizeLinear(new Float32Array(6 * 40), 6, 40, { bits: 4, blockSize: 32 })).toThrow(/does not divide/);
    expect(() => quantizeLinear(new Float32Array(6 * 64), 6, 64, { bits: 3 as 4 })).toThrow(/4 or 8/);
  });

  it('the DequantizeLinear → MatMul graph (opset 21) on ONNX Runtime equals x·dequantize(W)ᵀ in float64', async () => {
    for (const o of [{ bits: 4 }, { bits: 8 }, { bits: 8, blockSize: 'channel' }, { bits: 4, asymmetric: true }] as QuantizeOptions[]) {
      const out = 48,
        inDim = 128,
        M = 5;
      const w = heavy(rng, out * inDim, 0.05);
      const g = new GraphBuilder();
      const x = g.input('x', 'float', [M, inDim]);
      g.op('MatMul', [x, quantizedWeight(g, 'w', () => w, out, inDim, o)], {}, ['y']);
      g.output('y', 'float', [M, out]);
      const xs = uniform(rng, M * inDim, 1);
      const wt = reference(w, out, inDim, o);
      for (const [level, bound] of [
        ['1', 1e-5],
        ['4', 2e-2],
      ] as const) {
        const session = await ort.InferenceSession.create(g.encode(21), sessionOptions(level));
        const y = (await session.run({ x: new ort.Tensor('float32', xs, [M, inDim]) })).y.data as Float32Array;
        await session.release();
        let worst = 0,
          scale = 0;
        for (let m = 0; m < M; m++)
          for (let c = 0; c < out; c++) {
            let s = 0;
            for (let i = 0; i < inDim; i++) s += xs[m * inDim + i] * wt[i * out + c];
            worst = Math.max(worst, Math.abs(y[m * out + c] - s));
            scale = Math.max(scale, Math.abs(s));
          }
        // Level 1: the fused MatMulNBits computes in float32; level 4 (ORT's default) also
        // quantizes the activations to int8 per block.
        expect(worst / scale, `int${o.bits}${o.asymmetric ? ' asym' : ''}, accuracy level ${level}`).toBeLessThan(bound);
      }
    }
  });
});
