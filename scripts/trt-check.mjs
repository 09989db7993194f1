// The TensorRT check for a machine with libnvinfer.so.11, Node.js and a built package (npm run
// build): builds a package's engines, runs every engine and ONNX Runtime's CPU path on the same
// random inputs at each profile's optimum shape, and prints one row per engine: the relative
// error of each output against the CPU and both times (median of 5 runs, after a warm-up).
// The head's reference is its standard-operator twin (head-graph.ts), proved equal to the C++ head.
//   node scripts/trt-check.mjs <package> [fp32|fp16|bf16]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  TrtEngine,
  buildEngines,
  checkpointHeadWeights,
  engineSpecs,
  headImageGraph,
  headInstructionGraph,
  openCheckpoint,
  readPackage,
} from '../dist/index.js';
import { planFile } from '../dist/trt/specs.js';

const [model, precision = 'fp32'] = process.argv.slice(2);
if (!model) {
  console.error('usage: node scripts/trt-check.mjs <package> [fp32|fp16|bf16]');
  process.exit(2);
}
const result = await buildEngines({
  model,
  precision,
  onProgress: (e) => e.state !== 'building' && console.error(`[${e.index}/${e.count}] ${e.component}: ${e.state}`),
});
const pkg = await readPackage(model);
const specs = await engineSpecs(pkg);

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
function input(name, dims) {
  const n = dims.reduce((a, b) => a * b, 1);
  if (name === 'position_ids')
    return new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, (_, i) => BigInt(i % dims[1])),
      dims,
    );
  if (name === 'masks')
    return new ort.Tensor(
      'uint8',
      Uint8Array.from({ length: n }, () => (rand() > 0 ? 1 : 0)),
      dims,
    );
  if (name === 'point_labels') return new ort.Tensor('float32', new Float32Array(n).fill(1), dims);
  if (name === 'point_coords')
    return new ort.Tensor(
      'float32',
      Float32Array.from({ length: n }, () => (rand() + 1) * 512),
      dims,
    );
  return new ort.Tensor('float32', Float32Array.from({ length: n }, rand), dims);
}
async function referenceOnnx(spec) {
  if (!spec.generated) return readFile(join(pkg.dir, spec.source));
  const ck = openCheckpoint(join(pkg.dir, spec.source));
  const w = checkpointHeadWeights(ck);
  const g = spec.generated === 'head-image' ? headImageGraph(w, pkg.head, { plugins: false }) : headInstructionGraph(w, pkg.head);
  return g.encode(18);
}
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const rows = [];
for (const spec of specs) {
  const feeds = Object.fromEntries(spec.profiles[0].map((p) => [p.name, input(p.name, p.opt)]));
  const session = await ort.InferenceSession.create(await referenceOnnx(spec));
  const engine = await TrtEngine.load(join(result.dir, planFile(spec.component)), spec.component);
  const tensors = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dtype: t.type, dims: [...t.dims], data: t.data }]));
  const timeIt = async (fn) => {
    await fn();
    const ts = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await fn();
      ts.push(performance.now() - t0);
    }
    return median(ts);
  };
  const want = await session.run(feeds);
  const got = await engine.run(tensors);
  const errors = [];
  for (const [name, w] of Object.entries(want)) {
    const g = (await got[name].host()).data;
    let num = 0,
      den = 0;
    for (let i = 0; i < w.data.length; i++) {
      num += (Number(g[i]) - Number(w.data[i])) ** 2;
      den += Number(w.data[i]) ** 2;
    }
    errors.push(`${name} ${Math.sqrt(num / Math.max(den, 1e-30)).toExponential(1)}`);
  }
  const cpu = await timeIt(() => session.run(feeds));
  const trt = await timeIt(async () => {
    const out = await engine.run(tensors);
    await Promise.all(Object.values(out).map((v) => v.host()));
  });
  rows.push([spec.component, errors.join(', '), cpu.toFixed(2), trt.toFixed(2), (cpu / trt).toFixed(1)]);
  await engine.dispose();
  await session.release();
}
console.log(`\nTensorRT ${precision} engines of ${pkg.dir} (${result.dir}) vs ONNX Runtime CPU, inputs at each profile's opt shape`);
const head = ['engine', 'relative error per output', 'cpu ms', 'trt ms', 'speed-up'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
