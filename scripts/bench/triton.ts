/**
 * Several Node front ends against one tritonserver (docs/triton.md): the demo package exported
 * with --backend python, a real tritonserver on loopback (scripts/triton/install.sh), F front-end
 * processes each running R segment() calls on its own image, then images/s overall and Triton's
 * statistics per model: requests, inferences and executions (executions < requests: the dynamic
 * batcher ran several front ends' requests together). The same R calls on one in-process CPU
 * segmenter are the baseline. Bounded: F × R calls, to 127.0.0.1 only.
 *
 *   npm run bench:triton -- [--frontends 4] [--rounds 3] [--queue-delay-us 2000]
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
    worker: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const scene = rectangleScene(640, 480, DEMO_RECTS);
const raw = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };

async function frontEnd(model: string, url: string | undefined): Promise<void> {
  const seg = await createSegmenter({ model, device: url ? 'triton' : 'cpu', ...(url ? { triton: { url } } : {}) });
  for (let i = 0; i < rounds; i++) await seg.segment(raw, 'the red shape', { form: 'phrase' });
  await seg.dispose();
}

if (values.worker !== undefined) {
  const [model, url] = values.worker.split('|') as [string, string];
  await frontEnd(model, url);
  process.exit(0);
}

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
const models = await exportTritonRepository(pkg, join(work, 'repo'), { queueDelayUs: Number(values['queue-delay-us']) });
const server = await TritonServer.start(join(work, 'repo'));
try {
  let t = performance.now();
  await frontEnd(model, undefined);
  const cpuSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  await Promise.all(
    Array.from(
      { length: frontends },
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--rounds', String(rounds), '--worker', `${model}|${server.url}`], {
            stdio: 'inherit',
          });
          child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`front end exited ${code}`))));
        }),
    ),
  );
  const seconds = (performance.now() - t) / 1000;
  console.log(`in-process cpu: 1 process × ${rounds} images in ${cpuSeconds.toFixed(1)} s (${(rounds / cpuSeconds).toFixed(2)} images/s)`);
  console.log(
    `triton: ${frontends} front ends × ${rounds} images in ${seconds.toFixed(1)} s (${((frontends * rounds) / seconds).toFixed(2)} images/s, front ends' start-up included)`,
  );
  const client = new TritonClient(server.url);
  for (const { name } of models) {
    const s = await client.modelStats(name);
    console.log(`  ${name.padEnd(20)} requests ${s.requestCount}, inferences ${s.inferenceCount}, executions ${s.executionCount}`);
  }
  client.close();
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
