/**
 * Several Node front ends against one tritonserver (docs/triton.md): the demo package exported
 * with --backend python, a real tritonserver on loopback (scripts/triton/install.sh); one front-end
 * process, then F at once, each running R segment() calls; images/s of each run and Triton's
 * statistics per model during it: requests, inferences and executions (executions < requests: the
 * batchers ran several front ends' requests together). The same R calls on one in-process CPU
 * segmenter are the baseline (the overhead ratio). Bounded: (1 + F) × R calls, to 127.0.0.1 only.
 *
 * Last, the answer's per-token latency on a prepared image, one front end: tokens streamed by
 * hrseg_vlm_generate (the default) against one decoder call per token (triton.streamTokens: false),
 * as the median gap between segmentStream()'s token events.
 *
 *   npm run bench:triton -- [--frontends 4] [--rounds 3] [--queue-delay-us 2000] [--instances 1]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { readPackage } from '../../lib/package/manifest.js';
import { createSegmenter } from '../../lib/segmenter.js';
import { TritonClient } from '../../lib/triton/client.js';
import { exportTritonRepository } from '../../lib/triton/repository.js';
import { TritonServer, tritonMissing } from '../../test/helpers/triton.js';
import { DEMO_RECTS, writeDemoPackage } from '../models/demo-package.js';
import { rectangleScene } from '../models/tiny-sam.js';

const { values } = parseArgs({
  options: {
    frontends: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    'queue-delay-us': { type: 'string', default: '2000' },
    instances: { type: 'string', default: '1' },
    worker: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const scene = rectangleScene(640, 480, DEMO_RECTS);
const raw = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };

/** What one front end measured: each segment()'s ms, and when its first began and its last ended (epoch ms). */
interface Timing {
  ms: number[];
  start: number;
  end: number;
}

/** R segment() calls after one unmeasured warm-up call (start-up and first-call costs are not per-image latency). */
async function frontEnd(model: string, url: string | undefined): Promise<Timing> {
  const seg = await createSegmenter({ model, device: url ? 'triton' : 'cpu', ...(url ? { triton: { url } } : {}) });
  await seg.segment(raw, 'the blue shape', { form: 'phrase' });
  const ms: number[] = [];
  const start = Date.now();
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await seg.segment(raw, 'the red shape', { form: 'phrase' });
    ms.push(performance.now() - t);
  }
  const end = Date.now();
  await seg.dispose();
  return { ms, start, end };
}

if (values.worker !== undefined) {
  const [model, url] = values.worker.split('|') as [string, string];
  process.stdout.write(`timing ${JSON.stringify(await frontEnd(model, url))}\n`);
  process.exit(0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const missing = tritonMissing();
if (missing) {
  console.error(`bench:triton: ${missing}`);
  process.exit(1);
}
const frontends = Number(values.frontends);
const work = mkdtempSync(join(tmpdir(), 'hrseg-bench-triton-'));
const model = join(work, 'demo');
writeDemoPackage(model);
const pkg = await readPackage(model);
const models = await exportTritonRepository(pkg, join(work, 'repo'), {
  queueDelayUs: Number(values['queue-delay-us']),
  instances: Number(values.instances),
});
const server = await TritonServer.start(join(work, 'repo'));

/** F front-end processes of R images each, at once: every front end's timing. */
async function frontEnds(count: number): Promise<Timing[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Timing>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--rounds', String(rounds), '--worker', `${model}|${server.url}`], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (b: Buffer) => (out += b.toString()));
          child.once('exit', (code) => {
            const line = out.split('\n').find((l) => l.startsWith('timing '));
            if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as Timing);
            else reject(new Error(`front end exited ${code}`));
          });
        }),
    ),
  );
}

type Stats = Awaited<ReturnType<TritonClient['modelStats']>>;
const client = new TritonClient(server.url);
const snapshot = async () => new Map<string, Stats>(await Promise.all(models.map(async ({ name }) => [name, await client.modelStats(name)] as const)));
/** Each model's requests, inferences and executions during one run (the server's counters are cumulative). */
function printStats(before: Map<string, Stats>, after: Map<string, Stats>): void {
  for (const { name } of models) {
    const a = after.get(name)!,
      b = before.get(name)!;
    console.log(
      `  ${name.padEnd(20)} requests ${a.requestCount - b.requestCount}, inferences ${a.inferenceCount - b.inferenceCount}, executions ${a.executionCount - b.executionCount}`,
    );
  }
}

/**
 * Over R answers on a prepared image (after one warm-up answer): the median time from the call to
 * the first token event, the median gap between consecutive token events, the median whole answer
 * (to the result event), and the tokens seen.
 */
async function perToken(streamTokens: boolean): Promise<{ first: number; gap: number; answer: number; tokens: number }> {
  const seg = await createSegmenter({ model, device: 'triton', triton: { url: server.url, streamTokens } });
  const prepared = await seg.prepare(raw);
  const firsts: number[] = [],
    gaps: number[] = [],
    answers: number[] = [];
  let tokens = 0;
  try {
    for (let i = 0; i <= rounds; i++) {
      const t0 = performance.now();
      let last: number | undefined;
      for await (const e of seg.segmentStream(prepared, 'the red shape', { form: 'phrase' })) {
        const now = performance.now();
        if (i === 0) continue;
        if (e.type === 'result') answers.push(now - t0);
        if (e.type !== 'token') continue;
        if (last === undefined) firsts.push(now - t0);
        else gaps.push(now - last);
        last = now;
        tokens++;
      }
    }
  } finally {
    prepared.release();
    await seg.dispose();
  }
  const m = (xs: number[]) => (xs.length > 0 ? median(xs) : NaN);
  return { first: m(firsts), gap: m(gaps), answer: m(answers), tokens };
}

try {
  const cpu = await frontEnd(model, undefined);
  const cpuMs = median(cpu.ms);
  console.log(
    `in-process cpu: 1 process × ${rounds} images: ${cpuMs.toFixed(0)} ms per image (median), ${((rounds * 1000) / (cpu.end - cpu.start)).toFixed(2)} images/s`,
  );
  for (const count of [...new Set([1, frontends])]) {
    const before = await snapshot();
    const timings = await frontEnds(count);
    // Throughput over the span in which front ends were segmenting: the first start to the last end.
    const span = Math.max(...timings.map((t) => t.end)) - Math.min(...timings.map((t) => t.start));
    const ms = median(timings.flatMap((t) => t.ms));
    console.log(
      `triton: ${count} front end${count > 1 ? 's' : ''} × ${rounds} images: ${ms.toFixed(0)} ms per image (median; ${(ms / cpuMs).toFixed(2)}× in-process), ${((count * rounds * 1000) / span).toFixed(2)} images/s`,
    );
    printStats(before, await snapshot());
  }
  // One front end, a prepared image: the answer's tokens one decoder call each, then streamed.
  console.log(`answer on a prepared image, 1 front end, ${rounds} answers (median ms): first token, between tokens, to the result`);
  for (const [label, streamTokens] of [
    ['one call per token', false],
    ['streamed', true],
  ] as const) {
    const r = await perToken(streamTokens);
    console.log(`  ${label.padEnd(20)} ${r.first.toFixed(2)}, ${r.gap.toFixed(2)}, ${r.answer.toFixed(2)} (${r.tokens} tokens)`);
  }
} finally {
  client.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
