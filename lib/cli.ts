#!/usr/bin/env node
/**
 * hrseg command line: segment, eval, convert, info.
 * Exit codes: 0 done; 1 the work failed (the message names the HrsegError code); 2 bad usage;
 * 130 interrupted (Ctrl-C). Output files are written whole or not at all.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { HrsegError } from './errors.js';
import { evaluate } from './eval/evaluate.js';
import { convert } from './convert/convert.js';
import { buildEngines } from './trt/build.js';
import { readSidecar } from './trt/sidecar.js';
import { PRECISIONS } from './onnx/typed.js';
import { RANDOM_ARCHS } from './convert/random.js';
import { readDataset } from './eval/datasets.js';
import { loadImage } from './image.js';
import { maskPng, overlayPng, writeAtomic } from './output.js';
import { readPackage } from './package/manifest.js';
import { usesProposals } from './package/presets.js';
import { QUERY_FORMS } from './vlm/template.js';
import { runtimeInfo } from './runtime.js';
import { createSegmenter, type Device } from './segmenter.js';
import { serve } from './serve/server.js';
import { isLoopback, newToken } from './serve/guard.js';

const USAGE = `usage:
  hrseg segment <image> <instruction> --model <dir> [--device auto|cpu|cuda|tensorrt]
                [--out mask.png] [--overlay overlay.png] [--json] [--form sentence|phrase|chat]
                [--mode generate|teacher-forced] [--progress]
  hrseg eval <ReasonSeg folder | LLM-Seg40K .json> --model <dir> [--results results.jsonl]
                [--limit N] [--images <dir>] [--mode generate|teacher-forced] [--device ...]
                [--score-size N] [--proposal-max-side N]
  hrseg convert [--llmseg <mp_rank_00_model_states.pt> | --vlm <LISA/LLaVA checkpoint> | --lisa <LISA checkpoint> --clip <CLIP>] [--tokenizer <tokenizer.json|tokenizer.model>] [--clip <ckpt>]
                [--sam <checkpoint>] [--dino <checkpoint>] --out <dir> [--base <package>]
                [--dino-size 518] [--dino-table official|transformers] [--precision fp32|fp16|bf16] [--random <arch>[,<arch>]] [--force]
                [--quantize int4|int8] [--quantize-block 32]
                [--lora-alpha 16] [--rms-eps 1e-6] [--llama-heads 32]
  hrseg build-engines --model <dir> [--precision fp16|bf16|fp32] [--gpu N] [--workspace MiB]
                [--context 2048] [--component <name> ...] [--force]
  hrseg serve --model <dir> [--device auto|cpu|cuda|tensorrt] [--port 7860] [--host 127.0.0.1]
                [--max-upload-mb 32] [--cache-mb 1024]
  hrseg info [--model <dir>] [--json]
exit codes: 0 ok, 1 failed, 2 usage, 130 interrupted`;

class UsageError extends Error {}

const controller = new AbortController();
// First Ctrl-C: stop at the next checkpoint and clean up; a second one: leave at once.
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort(new Error('interrupted'));
});

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

function choice<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`${what} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function positiveInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a positive integer`);
  return n;
}

function positiveNumber(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0)) throw new UsageError(`${what} must be a positive number`);
  return n;
}

const DEVICES = ['auto', 'cpu', 'cuda', 'tensorrt'] as const;
const MODES = ['generate', 'teacher-forced'] as const;

async function segment(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      out: { type: 'string' },
      overlay: { type: 'string' },
      json: { type: 'boolean' },
      form: { type: 'string' },
      mode: { type: 'string' },
      progress: { type: 'boolean' },
    },
  });
  const [imagePath, instruction] = positionals;
  need(imagePath, '<image>');
  if (instruction === undefined) throw new UsageError('missing <instruction>');
  const model = need(values.model, '--model <dir>');
  const device = choice(values.device, DEVICES, '--device') as Device | undefined;
  const form = choice(values.form, QUERY_FORMS, '--form');
  const mode = choice(values.mode, MODES, '--mode');
  if (positionals.length > 2) throw new UsageError(`unexpected argument '${positionals[2]}' (quote the instruction)`);
  const image = await loadImage(imagePath, { signal: controller.signal });
  const segmenter = await createSegmenter({ model, device, signal: controller.signal });
  try {
    const showProgress = values.progress ?? process.stderr.isTTY;
    let lastStage = '';
    const result = await segmenter.segment(image, instruction, {
      form,
      mode,
      signal: controller.signal,
      onProgress: showProgress
        ? (stage, done, total) => {
            const line = `${stage} ${done}/${total}`;
            if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
            else if (stage !== lastStage || done === total) process.stderr.write(`${line}\n`);
            lastStage = stage;
          }
        : undefined,
    });
    const writes: Promise<void>[] = [];
    if (values.out) writes.push(maskPng(result.mask, result.width, result.height).then((png) => writeAtomic(values.out!, png)));
    if (values.overlay) writes.push(overlayPng(image, result.mask).then((png) => writeAtomic(values.overlay!, png)));
    await Promise.all(writes);
    let area = 0;
    for (const v of result.mask) area += v;
    if (values.json) {
      const { proposals, segments, mask: _mask, ...rest } = result;
      console.log(
        JSON.stringify(
          {
            ...rest,
            area,
            proposals: proposals.masks.dims[0],
            segments: segments.map((s) => ({ chosen: s.chosen, fallback: s.fallback, similarity: [...s.similarity], iop: [...s.iop] })),
            out: values.out ? resolve(values.out) : null,
            overlay: values.overlay ? resolve(values.overlay) : null,
          },
          null,
          2,
        ),
      );
    } else {
      console.log(`answer: ${result.answer}`);
      const lisa = !usesProposals(segmenter.model.preset);
      const from = lisa ? `${result.segments.length} [SEG] mask${result.segments.length === 1 ? '' : 's'} from LISA's decoder` : `proposals ${result.chosen.join(', ') || 'none'} of ${proposals(result)}`;
      console.log(`mask: ${area} of ${result.width}×${result.height} pixels, ${from}`);
      if (result.segments.some((s) => s.fallback)) console.log('note: no proposal passed the selection rule; the most similar one was taken');
      if (result.segments.length === 0) console.log('note: the answer has no [SEG]; the mask is empty');
      console.log(`time: ${result.timings.total.toFixed(0)} ms`);
      if (values.out) console.log(`wrote ${values.out}`);
      if (values.overlay) console.log(`wrote ${values.overlay}`);
    }
  } finally {
    await segmenter.dispose();
  }
}

const proposals = (r: { proposals: { masks: { dims: readonly number[] } } }) => r.proposals.masks.dims[0];

/** Seconds as "4m07s" (rounded to whole seconds first, so never "6m60s"); "--" when unknown. */
function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function bar(done: number, total: number, started: number): string {
  const width = 28, frac = total ? done / total : 1;
  const elapsed = (performance.now() - started) / 1000;
  const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
  const fmt = duration;
  return `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${done}/${total} ${(100 * frac).toFixed(0)}% elapsed ${fmt(elapsed)} eta ${fmt(eta)}`;
}

async function evalCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      results: { type: 'string' },
      limit: { type: 'string' },
      images: { type: 'string' },
      mode: { type: 'string' },
      json: { type: 'boolean' },
      'score-size': { type: 'string' },
      'proposal-max-side': { type: 'string' },
    },
  });
  const dataset = need(positionals[0], '<dataset>');
  const scoreSize = positiveInt(values['score-size'], '--score-size');
  const proposalMaxSide = positiveInt(values['proposal-max-side'], '--proposal-max-side');
  const model = need(values.model, '--model <dir>');
  const limit = positiveInt(values.limit, '--limit');
  const mode = choice(values.mode, MODES, '--mode');
  const device = choice(values.device, DEVICES, '--device') as Device | undefined;
  const resultsFile = values.results ?? 'hrseg-eval-results.jsonl';
  const samples = await readDataset(dataset, values.images);
  const segmenter = await createSegmenter({ model, device, signal: controller.signal });
  const started = performance.now();
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  try {
    const summary = await evaluate(segmenter, samples, {
      resultsFile,
      limit,
      mode,
      scoreSize,
      proposalMaxSide,
      signal: controller.signal,
      onProgress(done, total) {
        const now = performance.now();
        if (tty) process.stderr.write(`\r${bar(done, total, started)}`);
        else if (now - lastLine > 5000 || done === total) {
          lastLine = now;
          process.stderr.write(`${bar(done, total, started)}\n`);
        }
      },
    });
    if (tty) process.stderr.write('\n');
    if (values.json) console.log(JSON.stringify({ ...summary, results: resolve(resultsFile) }));
    else {
      console.log(`samples: ${summary.samples} (${summary.skipped} from ${resultsFile})`);
      console.log(`gIoU: ${(100 * summary.gIoU).toFixed(2)}`);
      console.log(`cIoU: ${(100 * summary.cIoU).toFixed(2)}`);
      console.log(`per-sample results: ${resultsFile}`);
    }
  } finally {
    await segmenter.dispose();
  }
}

async function convertCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sam: { type: 'string' },
      dino: { type: 'string' },
      out: { type: 'string' },
      base: { type: 'string' },
      'dino-size': { type: 'string' },
      'dino-table': { type: 'string' },
      quantize: { type: 'string' },
      'quantize-block': { type: 'string' },
      random: { type: 'string' },
      precision: { type: 'string' },
      force: { type: 'boolean' },
      llmseg: { type: 'string' },
      vlm: { type: 'string' },
      lisa: { type: 'string' },
      clip: { type: 'string' },
      tokenizer: { type: 'string' },
      'lora-alpha': { type: 'string' },
      'rms-eps': { type: 'string' },
      'llama-heads': { type: 'string' },
    },
  });
  const out = need(values.out, '--out <dir>');
  const precision = choice(values.precision, PRECISIONS, '--precision');
  let { sam, dino, llmseg } = values;
  for (const arch of values.random?.split(',').filter(Boolean) ?? []) {
    if (!(RANDOM_ARCHS as readonly string[]).includes(arch)) throw new UsageError(`--random: unknown architecture '${arch}' (one of ${RANDOM_ARCHS.join(', ')})`);
    if (arch.startsWith('sam-')) sam = `random:${arch}`;
    else if (arch === 'llm-seg-7b') llmseg = `random:${arch}`;
    else dino = `random:${arch}`;
  }
  // The whole LLM-Seg package at real size: SAM-H proposes (LLM-Seg used the official SAM-H).
  if (llmseg?.startsWith('random:')) sam ??= 'random:sam-vit-h';
  if (!sam && !dino && !llmseg && !values.vlm && !values.lisa) throw new UsageError('give --llmseg, --vlm, --lisa, --sam, --dino or --random');
  if (((llmseg && !llmseg.startsWith('random:')) || values.vlm || values.lisa) && !values.tokenizer) throw new UsageError("--llmseg, --vlm and --lisa need --tokenizer <the base model's tokenizer.json>");
  const t0 = performance.now();
  let last = '';
  let stepStart = t0;
  let lastLog = t0;
  const result = await convert({
    sam,
    dino,
    out,
    base: values.base,
    dinoSize: positiveInt(values['dino-size'], '--dino-size'),
    dinoTable: choice(values['dino-table'], ['official', 'transformers'] as const, '--dino-table'),
    quantize: choice(values.quantize, ['int4', 'int8'] as const, '--quantize'),
    quantizeBlock: positiveInt(values['quantize-block'], '--quantize-block'),
    llmseg,
    lisa: values.lisa,
    vlm: values.vlm,
    clip: values.clip,
    tokenizer: values.tokenizer,
    loraAlpha: positiveNumber(values['lora-alpha'], '--lora-alpha'),
    rmsEps: positiveNumber(values['rms-eps'], '--rms-eps'),
    llamaHeads: positiveInt(values['llama-heads'], '--llama-heads'),
    precision,
    force: values.force,
    signal: controller.signal,
    onProgress({ step, done, total }) {
      const now = performance.now();
      if (done === undefined || total === undefined) {
        if (process.stderr.isTTY && last) process.stderr.write('\n');
        process.stderr.write(`[${((now - t0) / 1000).toFixed(1)}s] ${step}\n`);
        last = '';
        stepStart = now;
        return;
      }
      const seconds = (now - stepStart) / 1000, rate = done / Math.max(seconds, 1e-3);
      const eta = rate > 0 ? (total - done) / rate : NaN;
      const line = `  ${(done / 2 ** 20).toFixed(0)} / ${(total / 2 ** 20).toFixed(0)} MiB, ${(rate / 1e6).toFixed(0)} MB/s, eta ${duration(eta)}`;
      if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
      else if (now - lastLog > 10_000 || done === total) {
        // Logs and pipes get a line every 10 s instead of a redrawn one.
        process.stderr.write(`${line}\n`);
        lastLog = now;
      }
      last = line;
    },
  });
  if (process.stderr.isTTY && last) process.stderr.write('\n');
  for (const [key, c] of Object.entries(result.components))
    console.log(`${key}: ${c.file} (${(c.bytes / 2 ** 20).toFixed(1)} MiB${c.external ? ', external data' : ''}${c.precision ? `, ${c.precision}` : ''}${c.quantization ? `, ${c.quantization.type} weights (${c.quantization.blockSize === 'channel' ? 'per channel' : `block ${c.quantization.blockSize}`})` : ''}) from ${c.source}`);
  console.log(`package: ${result.dir}${result.complete ? '' : ` (partial: no ${result.missing.join(', ')}; pass --base <package> to take them from another package)`}`);
}

async function info(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, json: { type: 'boolean' } } });
  const rt = runtimeInfo();
  const pkg = values.model ? await readPackage(values.model) : undefined;
  if (values.json) {
    const model = pkg && { dir: pkg.dir, name: pkg.name, trained: pkg.trained, preset: pkg.preset, manifest: pkg.manifest, settings: pkg.settings };
    console.log(JSON.stringify({ runtime: rt, model }, null, 2));
    return;
  }
  console.log(`hrseg ${rt.version} (Node-API ${rt.napiVersion}, node ${process.versions.node})`);
  console.log(`binary: ${rt.binary}`);
  console.log(`cpu: ${rt.cpuThreads} threads, kernel ${rt.cpuKernel ?? '?'}`);
  console.log(`cuda: ${rt.cuda.available ? rt.cuda.devices.map((d) => d.name).join(', ') : `not available (${rt.cuda.reason})`}`);
  console.log(`tensorrt: ${rt.tensorrt.loadable ? `${rt.tensorrt.version} (${rt.tensorrt.library})` : `not available (${rt.tensorrt.reason})`}`);
  if (pkg) {
    console.log(`model: ${pkg.name} (${pkg.dir})${pkg.trained ? '' : ' — built for testing, not trained'}`);
    if (pkg.manifest.description) console.log(`  ${pkg.manifest.description}`);
    console.log(`  preset: ${pkg.preset}`);
    const h = pkg.head;
    if (usesProposals(pkg.preset)) {
      console.log(`  proposals: ${pkg.proposals.pointsPerSide}² prompts, K ${pkg.proposals.maxProposals}`);
      const dino = h.hrp ? `global ${pkg.views.dino.size} + ${h.magnification ** 2} local crops` : `one view at ${pkg.views.dino.size}`;
      console.log(`  head: C ${h.featureDim}, d ${h.dim}, n_g ${h.globalGrid}, DINOv2 ${dino}, HRP ${h.hrp ? 'on' : 'off'}, HRE L ${h.hreLayers}, H ${h.hiddenSize}`);
      console.log(`  selection: ${h.selection.strategy}, k ${h.selection.k}, τ ${h.selection.tau}, fallback ${h.selection.fallback}`);
    } else {
      console.log(`  masks: LISA's SAM decoder prompted by each [SEG] (text_hidden_fcs H ${h.hiddenSize} → 256), SAM view ${pkg.views.sam.size}; no proposals, no DINOv2`);
    }
    console.log(`  vlm: ${pkg.vlm.mode}, ${pkg.vlm.queryForm} prompts, up to ${pkg.vlm.maxNewTokens} tokens; eval ${pkg.vlm.evalMode}`);
    for (const [key, c] of Object.entries(pkg.manifest.components ?? {})) {
      const q = c.quantization as { type?: string; blockSize?: number | 'channel' } | undefined;
      console.log(`  component ${key}: ${String(c.file)} from ${String(c.source)} (${c.precision ? `${String(c.precision)}, ` : ''}${q ? `${String(q.type)} weights, ${q.blockSize === 'channel' ? 'per channel' : `block ${String(q.blockSize)}`}, ` : ''}${(Number(c.bytes) / 2 ** 20).toFixed(1)} MiB)`);
    }
    // Engine folders built for this package, each with what it was built for.
    const engineDirs = await readdir(join(pkg.dir, 'engines')).catch(() => [] as string[]);
    for (const d of engineDirs) {
      const sidecar = await readSidecar(join(pkg.dir, 'engines', d), '').catch((e: Error) => e);
      if (sidecar === undefined) continue;
      console.log(
        sidecar instanceof Error
          ? `  engines ${d}: unreadable sidecar`
          : `  engines ${d}: ${Object.keys(sidecar.engines).join(', ')} (${sidecar.gpu.name}, TensorRT ${sidecar.tensorrt}, ${sidecar.precision}, ${sidecar.builtAt})`,
      );
    }
    console.log('  resolved settings (value, and where it came from):');
    const rows = Object.entries(pkg.settings);
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [key, { value, source }] of rows) {
      let text = JSON.stringify(value);
      if (text.length > 60) text = `${text.slice(0, 57)}...`;
      console.log(`    ${key.padEnd(width)}  ${text.padEnd(24)}  ${source}`);
    }
  }
}

async function buildEnginesCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      precision: { type: 'string' },
      gpu: { type: 'string' },
      workspace: { type: 'string' },
      context: { type: 'string' },
      component: { type: 'string', multiple: true },
      force: { type: 'boolean' },
    },
  });
  const model = need(values.model, '--model <dir>');
  const precision = choice(values.precision, PRECISIONS, '--precision');
  const gpu = values.gpu === undefined ? undefined : Number(values.gpu);
  if (gpu !== undefined && (!Number.isInteger(gpu) || gpu < 0)) throw new UsageError('--gpu must be a device ordinal (0, 1, ...)');
  const tty = process.stderr.isTTY;
  let last = 0;
  const result = await buildEngines({
    model,
    precision,
    gpu,
    workspaceMiB: positiveInt(values.workspace, '--workspace'),
    context: positiveInt(values.context, '--context'),
    components: values.component,
    force: values.force,
    signal: controller.signal,
    onProgress: (e) => {
      const head = `[${e.index}/${e.count}] ${e.component}`;
      if (e.state !== 'building') {
        if (tty) process.stderr.write('\r\x1b[K');
        console.error(`${head}: ${e.state}`);
        return;
      }
      // TensorRT reports many steps; a terminal gets a live line, a log one line per outer phase step.
      const now = performance.now();
      const line = `${head}: ${'  '.repeat(e.depth ?? 0)}${e.phase} ${e.step}/${e.steps}`;
      if (tty && now - last > 100) {
        process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
        last = now;
      } else if (!tty && e.depth === 0) console.error(line);
    },
  });
  console.log(`engines in ${result.dir}: built ${result.built.length} (${result.built.join(', ') || 'none'}), reused ${result.reused.length}`);
}

async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'max-upload-mb': { type: 'string' },
      'cache-mb': { type: 'string' },
      'allow-host': { type: 'string', multiple: true },
      token: { type: 'string' },
      'max-pixels': { type: 'string' },
      'max-concurrent': { type: 'string' },
      'max-queue': { type: 'string' },
      'deadline-s': { type: 'string' },
    },
  });
  const port = values.port === undefined ? 7860 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be an integer in [0, 65535]');
  const uploadMb = positiveNumber(values['max-upload-mb'], '--max-upload-mb');
  const cacheMb = positiveNumber(values['cache-mb'], '--cache-mb');
  const maxQueue = values['max-queue'] === undefined ? undefined : Number(values['max-queue']);
  if (maxQueue !== undefined && !(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new UsageError('--max-queue must be a non-negative integer');
  const deadlineS = positiveNumber(values['deadline-s'], '--deadline-s');
  // Beyond loopback a token is required: the one given, else a fresh one printed in the address (as Jupyter does).
  const host = values.host ?? '127.0.0.1';
  const token = values.token ?? (process.env.HRSEG_SERVE_TOKEN || undefined) ?? (isLoopback(host) ? undefined : newToken());
  const server = await serve({
    model: need(values.model, '--model <dir>'),
    device: choice(values.device, DEVICES, '--device'),
    port,
    host,
    allowHosts: values['allow-host'],
    token,
    maxUploadBytes: uploadMb === undefined ? undefined : Math.round(uploadMb * 2 ** 20),
    cacheBytes: cacheMb === undefined ? undefined : Math.round(cacheMb * 2 ** 20),
    maxPixels: positiveInt(values['max-pixels'], '--max-pixels'),
    maxConcurrent: positiveInt(values['max-concurrent'], '--max-concurrent'),
    maxQueue,
    deadlineMs: deadlineS === undefined ? undefined : Math.round(deadlineS * 1000),
    signal: controller.signal,
  });
  console.log(`hrseg serve: ${server.pageUrl} (device ${server.segmenter.device}; Ctrl-C stops)`);
  await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
  await server.close();
  console.log('hrseg serve: stopped');
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  try {
    if (command === 'segment') await segment(rest);
    else if (command === 'eval') await evalCommand(rest);
    else if (command === 'info') await info(rest);
    else if (command === 'convert') await convertCommand(rest);
    else if (command === 'build-engines') await buildEnginesCommand(rest);
    else if (command === 'serve') await serveCommand(rest);
    else if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    } else throw new UsageError(`unknown command '${command}'`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (error as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      console.error(`hrseg: ${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    if (error instanceof HrsegError && error.code === 'ABORTED') {
      console.error('hrseg: interrupted');
      return 130;
    }
    if (error instanceof HrsegError) console.error(`hrseg: error [${error.code}]: ${error.message}`);
    else console.error(`hrseg: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}

process.exitCode = await main();
