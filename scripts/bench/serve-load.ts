/**
 * Load on `hrseg serve` (docs/serving.md "Load"): the CLI's server with the demo model in a child
 * process on loopback, C clients each doing R rounds of upload → one instruction → DELETE, then
 * requests/s, p50/p95 per kind, how many were refused 503, and the server's peak RSS (VmHWM).
 * Bounded: C × R × 3 requests, to 127.0.0.1 only.
 *
 *   npx tsx scripts/bench/serve-load.ts [--clients 4] [--rounds 10] [--max-concurrent N] [--cache-mb 64]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { writeDemoPackage } from '../models/demo-package.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '10' },
    'max-concurrent': { type: 'string' },
    'cache-mb': { type: 'string', default: '64' },
  },
});
const clients = Number(values.clients);
const rounds = Number(values.rounds);
const root = join(import.meta.dirname, '..', '..');
const shapes = readFileSync(join(root, 'examples', 'shapes.png'));
const model = join(mkdtempSync(join(tmpdir(), 'hrseg-load-')), 'demo');
writeDemoPackage(model);

const args = [join(root, 'dist', 'cli.js'), 'serve', '--model', model, '--device', 'cpu', '--port', '0', '--cache-mb', values['cache-mb']!];
if (values['max-concurrent']) args.push('--max-concurrent', values['max-concurrent']);
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m) resolve(m[1]);
  });
  child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
});
const vm = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;

const times: Record<string, number[]> = { upload: [], instruction: [], delete: [] };
const statuses = new Map<string, number>();
async function timed(kind: string, path: string, init: RequestInit): Promise<{ status: number; text: string }> {
  const t = performance.now();
  const r = await fetch(new URL(path, url), init);
  const text = await r.text();
  times[kind].push(performance.now() - t);
  statuses.set(`${kind} ${r.status}`, (statuses.get(`${kind} ${r.status}`) ?? 0) + 1);
  return { status: r.status, text };
}

// One warm round first: ONNX Runtime's sessions set themselves up on their first runs.
await fetch(new URL('/api/images', url), { method: 'POST', headers: { 'content-type': 'image/png' }, body: shapes }).then((r) => r.text());
const rssWarm = vm('VmRSS');
const start = performance.now();
await Promise.all(
  Array.from({ length: clients }, async () => {
    for (let i = 0; i < rounds; i++) {
      const up = await timed('upload', '/api/images', { method: 'POST', headers: { 'content-type': 'image/png' }, body: shapes });
      if (up.status !== 201) continue;
      const { id } = JSON.parse(up.text);
      await timed('instruction', `/api/images/${id}/segment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"instruction":"the red shape"}',
      });
      await timed('delete', `/api/images/${id}`, { method: 'DELETE' });
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const total = Object.values(times).reduce((n, xs) => n + xs.length, 0);
console.log(
  `${clients} clients × ${rounds} rounds: ${total} requests in ${seconds.toFixed(1)} s = ${(total / seconds).toFixed(1)} requests/s, ${(times.instruction.length / seconds).toFixed(2)} upload+instruction rounds/s`,
);
for (const [kind, xs] of Object.entries(times))
  console.log(
    `${kind.padEnd(12)} n ${String(xs.length).padStart(4)}  p50 ${pct(xs, 50).toFixed(0).padStart(6)} ms  p95 ${pct(xs, 95).toFixed(0).padStart(6)} ms`,
  );
console.log('statuses', Object.fromEntries(statuses));
console.log(`server RSS: ${rssWarm.toFixed(0)} MB warm, peak (VmHWM) ${vm('VmHWM').toFixed(0)} MB`);
child.kill('SIGINT');
