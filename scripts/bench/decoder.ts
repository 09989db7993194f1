/**
 * LLaMA-7B-shaped decoders on onnxruntime-node's CPU provider (README "Quantized decoders"):
 * peak RSS, load time, prefill of 300 tokens (LLaVA's 256 image tokens + an instruction) and
 * decode tokens/s, for the int4 and int8 graphs `hrseg convert --quantize` writes, and a side by
 * side at LLaMA-7B's widths with 4 layers, where float32 fits too (a float32 7B is 27 GB).
 *
 *   npm run bench:decoder [-- --only small|7b] [--cache <dir>]
 *
 * Random weights (lib/convert/random.ts, LLaMA-7B's shapes): speed and memory do not depend on
 * the values. Each model is built once into the cache (~/.cache/hrseg/bench-decoder, ~20 GB) and
 * measured in its own process, so each peak RSS is that model's alone. The session is set up as
 * the runtime sets up its ONNX Runtime sessions (OnnxEngine: graph optimisation 'all', one
 * thread per core, the CPU model cache, measured on a load after the one that writes it); `level`
 * is ONNX Runtime's accuracy level for the fused MatMulNBits kernels (4, the runtime's: activations
 * quantized to int8 per block; 1: computed in float32). Peak RSS counts the mapped weights (page
 * cache the kernel can drop); anonymous memory is what cannot be dropped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

import * as ort from 'onnxruntime-node';

import { buildLlama } from '../../lib/convert/llama.js';
import { randomLlama7b } from '../../lib/convert/random.js';
import { OnnxEngine } from '../../lib/engines/onnx-runtime.js';
import type { EngineInput } from '../../lib/engines/types.js';
import { tensor } from '../../lib/tensor.js';

const PREFILL = 300,
  DECODE = 16;

interface Config {
  name: string;
  layers: number;
  bits?: 4 | 8;
  level?: number;
  /** false: without the CPU model cache (ONNX Runtime rewrites and pre-packs at every load). */
  cache?: boolean;
  group: 'small' | '7b';
}

const CONFIGS: Config[] = [
  { name: '4 layers, float32', layers: 4, group: 'small' },
  { name: '4 layers, int8', layers: 4, bits: 8, group: 'small' },
  { name: '4 layers, int4', layers: 4, bits: 4, group: 'small' },
  { name: '4 layers, int4, level 1', layers: 4, bits: 4, level: 1, group: 'small' },
  { name: '32 layers (7B), int8', layers: 32, bits: 8, group: '7b' },
  { name: '32 layers (7B), int4', layers: 32, bits: 4, group: '7b' },
  { name: '32 layers (7B), int4, no CPU cache', layers: 32, bits: 4, cache: false, group: '7b' },
];

const modelFile = (cache: string, c: Config) =>
  join(cache, `llama7b-${c.layers}l-${c.bits === 4 ? 'int4-b32' : c.bits === 8 ? 'int8-channel' : 'fp32'}`, 'decoder.onnx');

async function build(file: string, c: Config): Promise<number> {
  const t0 = performance.now();
  const ck = randomLlama7b(c.layers);
  try {
    const { graph } = buildLlama(ck, c.bits ? { quantize: { bits: c.bits, blockSize: 32 } } : {});
    // Written in a folder renamed when whole (decoder.onnx.data keeps the name the graph refers to).
    const partial = `${join(file, '..')}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    await graph.save(join(partial, basename(file)), { opset: c.bits ? 21 : 17, externalData: true, producer: 'hrseg bench' });
    renameSync(partial, join(file, '..'));
  } finally {
    ck.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Anonymous (heap) memory now, GiB: what cannot be dropped and read back like mapped weights. */
function anonGiB(): number {
  const m = /RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 2 ** 20 : NaN;
}

/** In the child: load (as the runtime does, CPU model cache included), prefill, decode; one JSON line. */
async function measure(file: string, cache: boolean): Promise<void> {
  const rss = () => process.resourceUsage().maxRSS / 2 ** 20;
  const t0 = performance.now();
  const engine = await OnnxEngine.load(file, 'vlm/decoder', { bindings: { H: 4096 }, ...(cache ? {} : { cpuCache: false as const }) });
  const loadS = (performance.now() - t0) / 1000;
  const H = 4096,
    kv = 32,
    hd = 128;
  const layers = engine.inputs.filter((i) => /^past\.\d+\.key$/.test(i.name)).length;
  let state = 7;
  const embeds = (n: number) => Float32Array.from({ length: n * H }, () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.04);
  const empty = tensor('float32', [1, kv, 0, hd], new Float32Array(0));
  const run = async (n: number, start: number, past?: Record<string, EngineInput>) => {
    const feeds: Record<string, EngineInput> = {
      inputs_embeds: tensor('float32', [1, n, H], embeds(n)),
      position_ids: tensor(
        'int64',
        [1, n],
        BigInt64Array.from({ length: n }, (_, i) => BigInt(start + i)),
      ),
    };
    for (let l = 0; l < layers; l++) for (const k of ['key', 'value']) feeds[`past.${l}.${k}`] = past?.[`past.${l}.${k}`] ?? empty;
    const out = await engine.run(feeds);
    const next: Record<string, EngineInput> = {};
    for (let l = 0; l < layers; l++) for (const k of ['key', 'value']) next[`past.${l}.${k}`] = out[`present.${l}.${k}`];
    return next;
  };
  // Warm-up (first-run allocations; with the cache, the mapped weights faulted in): timed apart.
  let t = performance.now();
  await run(8, 0);
  const firstRunS = (performance.now() - t) / 1000;
  t = performance.now();
  await run(8, 0);
  const secondRunS = (performance.now() - t) / 1000;
  t = performance.now();
  let past = await run(PREFILL, 0);
  const prefillS = (performance.now() - t) / 1000;
  const steps: number[] = [];
  for (let i = 0; i < DECODE; i++) {
    t = performance.now();
    past = await run(1, PREFILL + i, past);
    steps.push(performance.now() - t);
  }
  steps.sort((a, b) => a - b);
  const stepMs = steps[Math.floor(steps.length / 2)];
  const anon = anonGiB();
  await engine.dispose();
  console.log(
    JSON.stringify({ loadS, firstRunS, secondRunS, prefillS, stepMs, tokensPerS: 1000 / stepMs, rssGiB: rss(), anonGiB: anon, cache: engine.cpuCache }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { child: { type: 'string' }, 'no-cpu-cache': { type: 'boolean' }, only: { type: 'string' }, cache: { type: 'string' } },
  });
  if (values.child) return measure(values.child, !values['no-cpu-cache']);
  const cache = values.cache ?? join(homedir(), '.cache', 'hrseg', 'bench-decoder');
  const rows: string[][] = [];
  for (const c of CONFIGS.filter((c) => !values.only || c.group === values.only)) {
    const file = modelFile(cache, c);
    let built = '';
    if (!existsSync(file)) {
      rmSync(join(file, '..'), { recursive: true, force: true });
      process.stderr.write(`building ${c.name} …\n`);
      built = `${(await build(file, c)).toFixed(0)} s`;
    }
    const child = () =>
      spawnSync(process.execPath, [...process.execArgv, import.meta.filename, '--child', file, ...(c.cache === false ? ['--no-cpu-cache'] : [])], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
        env: { ...process.env, HRSEG_ORT_ACCURACY_LEVEL: String(c.level ?? 4) },
      });
    // The first load writes the CPU model cache entry; the measured one is a later load.
    if (c.cache !== false) {
      process.stderr.write(`loading ${c.name} once (CPU model cache) …\n`);
      child();
    }
    process.stderr.write(`measuring ${c.name} …\n`);
    const r = child();
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      rows.push([c.name, `failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`]);
      continue;
    }
    const m = JSON.parse(line) as { loadS: number; prefillS: number; stepMs: number; tokensPerS: number; rssGiB: number; anonGiB: number; cache: string };
    // Cached rows must have loaded from the cache: anything else would measure the wrong thing.
    if ((c.cache !== false) !== (m.cache === 'hit')) throw new Error(`${c.name}: the CPU model cache says '${m.cache}'`);
    rows.push([
      c.name,
      `${m.rssGiB.toFixed(2)} (${m.anonGiB.toFixed(2)})`,
      m.loadS.toFixed(1),
      m.prefillS.toFixed(2),
      m.stepMs.toFixed(0),
      m.tokensPerS.toFixed(2),
      built,
    ]);
  }
  const base = rows.find((r) => r[0] === '4 layers, float32');
  console.log(`\nLLaMA-7B-shaped decoder, onnxruntime-node ${ort.env.versions.common} CPU, prefill ${PREFILL} tokens, decode median of ${DECODE} steps\n`);
  console.log(
    '| model | peak RSS GiB (anonymous at the end) | load s | prefill s | decode ms/token | tokens/s | vs 4-layer float32 (prefill, decode) | built in |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.length < 7) {
      console.log(`| ${r[0]} | ${r[1]} | | | | | | |`);
      continue;
    }
    const ratio =
      base && base.length === 7 && r[0].startsWith('4 layers')
        ? `${(Number(base[3]) / Number(r[3])).toFixed(2)}×, ${(Number(base[4]) / Number(r[4])).toFixed(2)}×`
        : '';
    console.log(`| ${r.slice(0, 6).join(' | ')} | ${ratio} | ${r[6]} |`);
  }
}

await main();
