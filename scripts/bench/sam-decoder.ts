/**
 * SAM's mask decoder at real widths (SAM's decoder is the same for ViT-B/L/H: 256 channels, a
 * 64² image grid) over point prompts, on onnxruntime-node's CPU provider, at several batch sizes:
 * time per prompt as a ratio to the first batch size (the baseline, measured in the same run, the
 * sizes taking turns), and the largest difference of any output from the baseline's (0: the batch
 * does not change a bit). docs/performance.md "SAM's decoder over 1024 prompts".
 *
 *   npm run bench:sam-decoder [-- --prompts 128] [--batches 64,4] [--rounds 2] [--threads 2] [--profile]
 *
 * The graph is `hrseg convert`'s, from random ViT-B weights (lib/convert/random.ts); --profile
 * prints ONNX Runtime's per-operator shares at the last batch size.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import * as ort from 'onnxruntime-node';

import { randomCheckpoint } from '../../lib/convert/random.js';
import { buildSamDecoder } from '../../lib/convert/sam-decoder.js';

const { values } = parseArgs({
  options: {
    prompts: { type: 'string', default: '128' },
    batches: { type: 'string', default: '64,4' },
    rounds: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
  },
});
const prompts = Number(values.prompts),
  rounds = Number(values.rounds),
  threads = Number(values.threads);
const batches = values.batches.split(',').map(Number);
if (![prompts, rounds, threads, ...batches].every((n) => Number.isInteger(n) && n > 0))
  throw new Error('--prompts, --batches, --rounds and --threads take positive integers');

const model = buildSamDecoder(randomCheckpoint('sam-vit-b'), { grid: 64 }).graph.encode();
const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, graphOptimizationLevel: 'all', executionProviders: ['cpu'] };
const session = await ort.InferenceSession.create(model, options);
// A fixed pseudo-random image embedding and prompt grid: every batch size sees the same inputs.
const embedding = new ort.Tensor(
  'float32',
  Float32Array.from({ length: 256 * 64 * 64 }, (_, i) => Math.sin(i * 0.731) * 0.8),
  [1, 256, 64, 64],
);
const points = Float32Array.from({ length: prompts * 2 }, (_, i) => ((i * 7919) % 1021) + 0.5);

async function pass(s: ort.InferenceSession, batch: number): Promise<{ ms: number; masks: Float32Array }> {
  const masks = new Float32Array(prompts * 3 * 256 * 256);
  const t0 = performance.now();
  for (let start = 0; start < prompts; start += batch) {
    const b = Math.min(batch, prompts - start);
    const out = await s.run({
      image_embeddings: embedding,
      point_coords: new ort.Tensor('float32', points.slice(start * 2, (start + b) * 2), [b, 1, 2]),
      point_labels: new ort.Tensor('float32', new Float32Array(b).fill(1), [b, 1]),
    });
    masks.set(out.low_res_masks.data as Float32Array, start * 3 * 65536);
  }
  return { ms: performance.now() - t0, masks };
}

await pass(session, batches.at(-1)!); // warm-up: the arena and the first-run set-up
const times = new Map<number, number[]>(batches.map((b) => [b, []]));
let baseline: Float32Array | undefined;
const diff = new Map<number, number>();
for (let r = 0; r < rounds; r++)
  for (const b of batches) {
    const { ms, masks } = await pass(session, b);
    times.get(b)!.push(ms / prompts);
    baseline ??= masks;
    let d = 0;
    for (let i = 0; i < masks.length; i++) d = Math.max(d, Math.abs(masks[i] - baseline[i]));
    diff.set(b, Math.max(diff.get(b) ?? 0, d));
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times.get(batches[0])!);
console.log(`SAM decoder, ${prompts} prompts, ${threads} thread(s), ${rounds} round(s)\n`);
console.log(
  '| prompts a run | ms a prompt (median) | s for 1024 prompts | time ÷ batch ' +
    batches[0] +
    ' | largest difference of the masks from batch ' +
    batches[0] +
    ' |',
);
console.log('|---|---|---|---|---|');
for (const b of batches) {
  const m = median(times.get(b)!);
  console.log(`| ${b} | ${m.toFixed(1)} | ${((m * 1024) / 1000).toFixed(1)} | ${(m / base).toFixed(2)} | ${diff.get(b)} |`);
}

if (values.profile) {
  const dir = mkdtempSync(join(tmpdir(), 'hrseg-sam-decoder-'));
  try {
    const profiled = await ort.InferenceSession.create(model, { ...options, enableProfiling: true, profileFilePrefix: join(dir, 'profile') });
    await pass(profiled, batches.at(-1)!);
    profiled.endProfiling();
    const file = join(
      dir,
      readdirSync(dir).find((f) => f.startsWith('profile'))!,
    );
    const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
    const byOp = new Map<string, number>();
    let total = 0;
    for (const e of events)
      if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
        byOp.set(e.args?.op_name ?? '?', (byOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur);
        total += e.dur;
      }
    console.log(`\nONNX Runtime's profile at ${batches.at(-1)} prompts a run:`);
    for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${op.padEnd(24)} ${((100 * us) / total).toFixed(1)} %`);
    await profiled.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
await session.release();
