/**
 * `convert({ quantizeVision: 'int8' })` (docs/quantization.md "Quantized vision"): the vision
 * graphs' weight MatMuls become ONNX Runtime's DynamicQuantizeMatMul with per-channel int8 weights.
 *  - one layer equals a float64 reference of what the op computes (activations quantized per tensor
 *    to uint8 with a zero point, ONNX's DynamicQuantizeLinear; int8 weights × their column scale),
 *    so the weights' layout and scales are what the op reads;
 *  - the tiny real-layout SAM encoder and DINOv2 track their float32 graphs (cosine of the outputs;
 *    HRSEG_REPORT=1 prints them), every weight MatMul rewritten, attention's left as it is;
 *  - a converted package records it, and build-engines refuses it by name (TensorRT cannot build it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { convert } from '../lib/convert/convert.js';
import { buildDinov2 } from '../lib/convert/dinov2.js';
import { quantizeVisionMatMuls, WEIGHT_CODE_MAX } from '../lib/convert/quantize-vision.js';
import { buildSamEncoder } from '../lib/convert/sam-encoder.js';
import { onnxSource } from '../lib/engines/providers/onnx-runtime.js';
import { buildEngines, readPackage, runtimeInfo } from '../lib/index.js';
import { MANIFEST_FILE } from '../lib/package/manifest.js';
import { GraphBuilder } from '../lib/onnx/graph.js';
import { demoPackage } from './helpers/demo.js';
import { cosine, freshSeed, makeRng, uniform } from './helpers/random.js';

const FIX = join(import.meta.dirname, 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'hrseg-qvision-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const seed = freshSeed();
const report = (s: string) => process.env.HRSEG_REPORT === '1' && console.log(s);

async function run(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(g.encode(17));
  const out = await s.run(feeds);
  await s.release();
  return Object.values(out)[0].data as Float32Array;
}

const opCounts = (g: GraphBuilder) => {
  const counts: Record<string, number> = {};
  for (const n of g.parts().nodes) counts[n.opType!] = (counts[n.opType!] ?? 0) + 1;
  return counts;
};

describe(`--quantize-vision int8 (seed ${seed})`, () => {
  it('one layer: DynamicQuantizeMatMul on the written codes and scales equals a float64 reference of dynamic int8 quantization', async () => {
    const rng = makeRng(seed);
    const [M, K, N] = [7, 48, 20];
    const x = uniform(rng, M * K, 3).map((v) => v + 0.7); // off-centre: the zero point is not 128
    const wt = uniform(rng, K * N, 0.2); // Wᵀ [K, N], as the builders store linear weights
    const g = new GraphBuilder();
    g.input('x', 'float', [M, K]);
    g.op('MatMul', ['x', g.tensor('w', 'float', [K, N], new Uint8Array(wt.buffer))], {}, ['y']);
    g.output('y', 'float', [M, N]);
    expect(quantizeVisionMatMuls(g)).toEqual(['w']);
    const y = await run(g, { x: new ort.Tensor('float32', x, [M, K]) });

    const inits = new Map(g.parts().inits.map((i) => [i.name, i]));
    const codes = new Int8Array(inits.get('w')!.bytes().slice().buffer);
    const sb = inits.get('w.scale')!.bytes().slice();
    const scales = new Float32Array(sb.buffer, 0, N);
    // Codes within ±63, and the range used: full-range int8 weights overflow the 16-bit pair sums
    // of ONNX Runtime's AVX2 kernel (CPUs without VNNI), where this layer came out 38 % wrong.
    expect(Math.max(...codes.map(Math.abs))).toBe(WEIGHT_CODE_MAX);
    // ONNX DynamicQuantizeLinear: the range always holds 0; scale = range / 255; zp = round(−min / scale).
    let lo = 0,
      hi = 0;
    for (const v of x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const sx = Math.fround((hi - lo) / 255);
    const roundEven = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    const zp = Math.min(255, Math.max(0, roundEven(-lo / sx)));
    let worst = 0,
      scale = 0,
      close = 0;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0,
          exact = 0;
        for (let k = 0; k < K; k++) {
          const q = Math.min(255, Math.max(0, roundEven(Math.fround(x[m * K + k] / sx)) + zp));
          acc += (q - zp) * codes[k * N + n];
          exact += x[m * K + k] * wt[k * N + n];
        }
        const ref = acc * sx * scales[n];
        worst = Math.max(worst, Math.abs(y[m * N + n] - ref));
        scale = Math.max(scale, Math.abs(ref));
        close = Math.max(close, Math.abs(y[m * N + n] - exact));
      }
    expect(worst / scale, `max |op − reference| ${worst} of ${scale}`).toBeLessThan(1e-5);
    // And it is a quantization of the float product, not another product.
    expect(close / scale).toBeLessThan(0.05);
  });

  it('the tiny real-layout SAM encoder and DINOv2 track float32; every weight MatMul is rewritten, attention stays float', async () => {
    const rng = makeRng(seed + 1);
    const cases = [
      {
        name: 'SAM encoder (sam-tiny.pth)',
        build: () => buildSamEncoder(openCheckpoint(join(FIX, 'sam/sam-tiny.pth'))).graph,
        feeds: () => ({ image: new ort.Tensor('float32', uniform(rng, 3 * 128 * 128, 2), [1, 3, 128, 128]) }),
        // per block: qkv, proj, lin1, lin2
        layers: 2 * 4,
      },
      {
        name: 'DINOv2 (vit-tiny.pth, 2 views of 70²)',
        build: () => buildDinov2(openCheckpoint(join(FIX, 'dinov2/vit-tiny.pth')), { viewSize: 70 }).graph,
        feeds: () => ({ pixel_values: new ort.Tensor('float32', uniform(rng, 2 * 3 * 70 * 70, 2), [2, 3, 70, 70]) }),
        layers: 2 * 4,
      },
    ];
    for (const c of cases) {
      const feeds = c.feeds();
      const float = await run(c.build(), feeds);
      const g = c.build();
      const before = opCounts(g);
      const rewritten = quantizeVisionMatMuls(g);
      const after = opCounts(g);
      expect(rewritten).toHaveLength(c.layers);
      expect(after.DynamicQuantizeMatMul).toBe(c.layers);
      expect(after.MatMul).toBe(before.MatMul - c.layers); // attention's products are left as they are
      const q = await run(g, feeds);
      const cos = cosine(q, float);
      report(`  ${c.name}: cosine to float32 ${cos.toFixed(6)}`);
      expect(cos, c.name).toBeGreaterThan(0.995);
      expect(cos, `${c.name}: identical to float32 means nothing was quantized`).toBeLessThan(1);
    }
  });

  it('a converted package records it; build-engines refuses it by name before looking for TensorRT', async () => {
    const out = join(work, 'pkg');
    const r = await convert({ dino: join(FIX, 'dinov2/vit-tiny.pth'), base: demoPackage(), out, dinoSize: 70, quantizeVision: 'int8' });
    expect(r.components.dinoEncoder.quantization).toMatchObject({ type: 'int8', blockSize: 'channel', activations: 'int8-dynamic', weightBits: 7 });
    expect(r.components.dinoEncoder.quantization!.layers).toHaveLength(8);
    const pkg = await readPackage(out);
    expect(pkg.manifest.components?.dinoEncoder?.quantization).toMatchObject({ activations: 'int8-dynamic' });
    await expect(buildEngines({ model: out })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: /dino\/encoder\.onnx.*--quantize-vision int8.*TensorRT cannot build/,
    });
    await expect(convert({ dino: join(FIX, 'dinov2/vit-tiny.pth'), out: join(work, 'fp16'), precision: 'fp16', quantizeVision: 'int8' })).rejects.toMatchObject(
      {
        code: 'INVALID_ARGUMENT',
        message: /does not combine with precision fp16/,
      },
    );
  });

  it('a package of the first --quantize-vision (full-range weights, no weightBits) is refused on x86-64 without VNNI, loads elsewhere', async () => {
    const out = join(work, 'pkg');
    const manifestFile = join(out, MANIFEST_FILE);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { components: Record<string, { quantization?: { weightBits?: number } }> };
    delete manifest.components.dinoEncoder.quantization!.weightBits;
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const features = runtimeInfo().cpuFeatures;
    const refused = process.arch === 'x64' && !/avx512-vnni|amx-int8/.test(features);
    // The component as the runtime opens it (this test package's head is the demo's, made for
    // another DINOv2, so a whole segmenter would not load on any CPU).
    const source = onnxSource(await readPackage(out), 'cpu');
    const load = (async () => source.open('dino/encoder'))();
    if (refused) await expect(load).rejects.toMatchObject({ code: 'MODEL_FILE', message: /dino\/encoder.*full int8 range.*no VNNI.*convert it again/s });
    else await (await load).dispose();
  });
});
