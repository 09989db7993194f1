/**
 * The llama.cpp peer of `npm run bench:peers`: node-llama-cpp's prebuilt CPU binary on a GGUF,
 * prefill of PREFILL token ids, then DECODE greedy steps; one JSON line out.
 *
 *   node llama-cpp.mjs <node-llama-cpp dir> <model.gguf> [threads] [prefill] [decode]
 *
 * node-llama-cpp lives outside the repo (scripts/bench/peers/install.sh), so it is imported by
 * its path. Token ids, not text: the GGUF's vocabulary is a placeholder.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, modelPath, threadsArg = '2', prefillArg = '300', decodeArg = '16'] = process.argv.slice(2);
const threads = Number(threadsArg),
  PREFILL = Number(prefillArg),
  DECODE = Number(decodeArg);
const pkg = join(dir, 'node_modules', 'node-llama-cpp');
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(join(pkg, 'dist', 'index.js')).href);
const version = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version;

// gpu false and build 'never': the prebuilt CPU binary or nothing (no fallback build from source).
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const context = await model.createContext({ contextSize: 1024, batchSize: 512, threads, sequences: 1 });
const sequence = context.getSequence();

let s = 1;
const ids = (n) => Array.from({ length: n }, () => 3 + ((s = (s * 1664525 + 1013904223) >>> 0) % 31000));

// Warm-up (as decoder.ts: first-run allocations), then a fresh sequence state.
await sequence.evaluateWithoutGeneratingNewTokens(ids(8));
await sequence.clearHistory();

let t = performance.now();
await sequence.evaluateWithoutGeneratingNewTokens(ids(PREFILL));
const prefillS = (performance.now() - t) / 1000;

// Each step of the generator evaluates one token (the last one fed, then each sampled one).
const steps = [];
t = performance.now();
let n = 0;
for await (const token of sequence.evaluate(ids(1), { temperature: 0 })) {
  void token;
  const now = performance.now();
  steps.push(now - t);
  t = now;
  if (++n >= DECODE) break;
}
steps.sort((a, b) => a - b);
const decodeMedianSeconds = steps[Math.floor(steps.length / 2)] / 1000;
console.log(
  JSON.stringify({
    stage: 'llama.cpp',
    prefillTokens: PREFILL,
    prefillSeconds: prefillS,
    prefillTokensPerSecond: PREFILL / prefillS,
    decodeSteps: steps.length,
    decodeMedianSeconds,
    decodeTokensPerSecond: 1 / decodeMedianSeconds,
    threads: context.currentThreads ?? threads,
    buildType: llama.buildType,
    cpu: llama.cpuMathCores === undefined ? undefined : { mathCores: llama.cpuMathCores },
    systemInfo: llama.systemInfo,
    version: `node-llama-cpp ${version} (llama.cpp ${llama.llamaCppRelease?.release ?? '?'}, prebuilt CPU binary)`,
    maxRssGiB: process.resourceUsage().maxRSS / 2 ** 20,
  }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
