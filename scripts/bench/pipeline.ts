/**
 * The whole pipeline at real size on the CPU (README "The real model on this machine"): a package
 * with random weights at LLM-Seg-7B's architecture (`hrseg convert --random llm-seg-7b`: SAM ViT-H,
 * DINOv2-L at 896, CLIP ViT-L/14, LLaMA-7B, the head at its real widths), `segment()` on a
 * 1024×768 photo-like image, every stage's time and the process's peak RSS.
 *
 *   npm run bench:pipeline [-- --quantize int4|int8|none] [--model <dir>] [--image <file>]
 *
 * The package is converted once into ~/.cache/hrseg/bench-pipeline (about 10 GB at int4) and the
 * segmentation runs in its own process, so the peak RSS is the runtime's, not the converter's.
 * The weights are random, so:
 *  - random SAM weights fail SAM's quality filters (predicted IoU 0.88, stability 0.95), so a
 *    random package gets them off in its hrseg.json (box NMS and the 50-proposal cap still apply)
 *    and the head works on a realistic K;
 *  - the answer is gibberish: the llm-seg preset's teacher-forced reasoning (one pass over the
 *    prompt and the fixed answer) is timed, then greedy generation of 16 tokens for the prefill
 *    and per-token times; [SEG] is absent from random answers, so the selection stage is timed on
 *    the prepared features with a random h_seg.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { convert } from '../../lib/convert/convert.js';
import { MANIFEST_FILE, type Manifest } from '../../lib/package/manifest.js';
import { createSegmenter } from '../../lib/segmenter.js';
import type { Method } from '../../lib/pipeline/method.js';
import { tensor } from '../../lib/tensor.js';
import { measureCpuPeaks, shareOf, si } from './cpu-peaks.js';
import { photo } from './photo.js';
import { clipL14Flops, dinoFlops, llama7bFlops, samDecoderFlops, samEncoderFlops } from './flops.js';

/**
 * Samples /proc/self/status's RssAnon and RssFile (GiB) and /proc/self/stat's count of major page
 * faults (pages read from the disk) every 50 ms from a worker thread: ONNX Runtime's run() holds
 * the main thread, so a timer there would only see the memory between runs. Each sample is
 * [epoch ms, anon, file, major faults]; stop() ends it and returns them all.
 */
type Sample = [number, number, number, number];
function memorySampler(): { stop(): Promise<Sample[]> } {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { readFileSync } = require('node:fs');
     const samples = [];
     const kib = (text, key) => Number(new RegExp('^' + key + ':\\\\s+(\\\\d+) kB', 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
     const tick = () => {
       const text = readFileSync('/proc/self/status', 'utf8');
       const stat = readFileSync('/proc/self/stat', 'utf8');
       const majflt = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[9]);
       samples.push([performance.timeOrigin + performance.now(), kib(text, 'RssAnon'), kib(text, 'RssFile'), majflt]);
     };
     const timer = setInterval(tick, 50);
     parentPort.once('message', () => { clearInterval(timer); tick(); parentPort.postMessage(samples); });`,
    { eval: true },
  );
  let stopped: Promise<Sample[]> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        worker.postMessage('stop');
        const [samples] = (await once(worker, 'message')) as [Sample[]];
        await worker.terminate();
        return samples;
      })();
      return stopped;
    },
  };
}

/** Epoch milliseconds, comparable with the sampler's. */
const now = () => performance.timeOrigin + performance.now();

async function measure(model: string, imageFile?: string): Promise<void> {
  const rss = () => process.resourceUsage().maxRSS / 2 ** 20;
  // The peak anonymous memory (what the kernel cannot drop, unlike the mapped weights' pages),
  // and each stage's own peaks, from samples with their times.
  const sampler = memorySampler();
  const image = imageFile ?? (await photo());
  const t0 = now();
  const segmenter = await createSegmenter({ model, device: 'cpu' });
  const load = now() - t0;
  const rssLoaded = rss();
  try {
    const tPrepare = now();
    const prepared = await segmenter.prepare(image);
    const rssPrepared = rss();
    const question = 'What in this picture would you use to cut a cake? Please output the segmentation mask.';
    const tForced = now();
    const forced = await segmenter.segment(prepared, question, { mode: 'teacher-forced' });
    const tGenerate = now();
    let first = 0,
      last = 0,
      tokens = 0;
    const tAsk = performance.now();
    let timings: Record<string, number> = {};
    for await (const e of segmenter.segmentStream(prepared, question, { mode: 'generate', maxNewTokens: 16 })) {
      if (e.type === 'token') {
        const now = performance.now();
        if (tokens++ === 0) first = now - tAsk;
        last = now;
      } else if (e.type === 'result') timings = e.result.timings;
    }
    const decodeMs = tokens > 1 ? (last - tAsk - first) / (tokens - 1) : NaN;
    // The selection on a random h_seg (a random model rarely says [SEG]).
    const hidden = segmenter.model.head.hiddenSize;
    const seg = tensor(
      'float32',
      [1, hidden],
      Float32Array.from({ length: hidden }, (_, i) => Math.sin(i)),
    );
    const tSel = now();
    // The method's mask step (the head's instruction step and the selection) on that h_seg.
    const method = (segmenter as unknown as { method: Method }).method;
    const steps = method.maskStep(prepared, seg, {});
    while (!(await steps.next()).done);
    const selection = now() - tSel;
    const tEnd = now();
    const samples = await sampler.stop();
    let anonPeak = 0,
      fileAtAnonPeak = 0;
    for (const [, anon, file] of samples) if (anon > anonPeak) [anonPeak, fileAtAnonPeak] = [anon, file];
    // Each stage's window: load, the image stages in the order they ran (their timings), the
    // teacher-forced reasoning, generation and the selection.
    const windows: [string, number, number][] = [['load', t0, tPrepare]];
    let at = tPrepare;
    for (const [k, ms] of Object.entries(prepared.timings)) windows.push([k, at, (at += ms)]);
    windows.push(['forced', tForced, tGenerate], ['generate', tGenerate, tSel], ['selection', tSel, tEnd]);
    const memory: Record<string, { anon: number; rss: number; majorFaults: number }> = {};
    for (const [k, from, to] of windows) {
      let first: number | undefined,
        last = 0;
      for (const [t, anon, file, majflt] of samples)
        if (t >= from && t <= to + 50) {
          const m = (memory[k] ??= { anon: 0, rss: 0, majorFaults: 0 });
          m.anon = Math.max(m.anon, anon);
          m.rss = Math.max(m.rss, anon + file);
          first ??= majflt;
          last = majflt;
        }
      if (memory[k] && first !== undefined) memory[k].majorFaults = last - first;
    }
    console.log(
      JSON.stringify({
        load,
        ...prepared.timings,
        forced: forced.timings.reasoning,
        firstToken: first,
        tokens,
        decodeMs,
        generated: timings.reasoning,
        selection,
        proposalCount: prepared.proposals.masks.dims[0],
        proposalTimings: prepared.proposals.timings,
        rssLoaded,
        rssPrepared,
        rssPeak: rss(),
        anonPeak,
        fileAtAnonPeak,
        memory,
      }),
    );
    prepared.release();
  } finally {
    await sampler.stop().catch(() => undefined);
    await segmenter.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      image: { type: 'string' },
      model: { type: 'string' },
      quantize: { type: 'string' },
      'quantize-vision': { type: 'string' },
    },
  });
  if (values.child) return measure(values.child, values.image);
  const q = (values.quantize ?? 'int4') as 'int4' | 'int8' | 'none';
  const qv = values['quantize-vision'];
  if (qv !== undefined && qv !== 'int8') throw new Error(`--quantize-vision takes int8, got ${qv}`);
  const model = values.model ?? join(homedir(), '.cache', 'hrseg', 'bench-pipeline', `llm-seg-7b-${q}${qv ? '-vision-int8' : ''}`);
  if (!existsSync(join(model, MANIFEST_FILE))) {
    const t0 = performance.now();
    process.stderr.write(`converting --random llm-seg-7b${q === 'none' ? '' : ` --quantize ${q}`} into ${model} (once) …\n`);
    await convert({
      llmseg: 'random:llm-seg-7b',
      sam: 'random:sam-vit-h',
      out: model,
      force: true,
      ...(q === 'none' ? {} : { quantize: q }),
      ...(qv ? { quantizeVision: qv } : {}),
      onProgress: (e) => e.done === undefined && process.stderr.write(`  ${e.step}\n`),
    });
    process.stderr.write(`converted in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  // Random SAM weights fail SAM's quality filters: off for random packages (see the top).
  const manifest = JSON.parse(readFileSync(join(model, MANIFEST_FILE), 'utf8')) as Manifest;
  if (manifest.trained === false && manifest.proposals?.predIouThreshold === undefined) {
    manifest.proposals = { ...manifest.proposals, predIouThreshold: -1e9, stabilityThreshold: 0 };
    writeFileSync(join(model, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  }
  // Measured before the segmenting process starts, so that neither disturbs the other.
  process.stderr.write("measuring this CPU's peaks …\n");
  const peaks = await measureCpuPeaks(0.5, 512 * 2 ** 20);
  process.stderr.write('segmenting …\n');
  const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, '--child', model, ...(values.image ? ['--image', values.image] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`the measuring process failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})`);
  const { memory, proposalTimings, ...m } = JSON.parse(line) as Record<string, number> & {
    memory: Record<string, { anon: number; rss: number; majorFaults: number }>;
    proposalTimings?: { encoder: number; decoder: number; postProcessing: number };
  };
  // Sampled every 100 ms: a stage shorter than that may show its neighbour's memory.
  const mem = (k: string) => (memory[k] ? `${memory[k].anon.toFixed(1)} / ${memory[k].rss.toFixed(1)}; ${memory[k].majorFaults}` : '');
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const stages = Object.entries(m).filter(
    ([k]) =>
      ![
        'load',
        'forced',
        'firstToken',
        'tokens',
        'decodeMs',
        'generated',
        'selection',
        'proposalCount',
        'rssLoaded',
        'rssPrepared',
        'rssPeak',
        'anonPeak',
        'fileAtAnonPeak',
      ].includes(k),
  );
  const imageTotal = stages.reduce((a, [, v]) => a + v, 0);
  console.log(`\nLLM-Seg-7B architecture, random weights, LLaMA ${q}, 1024×768, CPU (${m.proposalCount} proposals)\n`);
  console.log(
    '| stage | seconds | share of one segment() (teacher-forced, as the preset) | ≈ TFLOP (main terms) | share of the peak it runs on | GiB: anonymous / RSS peak in the stage; major page faults (pages read from the disk) |',
  );
  console.log('|---|---|---|---|---|---|');
  const total = imageTotal + m.forced + m.selection;
  // Which arithmetic each stage runs on: float32, or int8 where its GEMMs quantize activations
  // (--quantize-vision; the int4/int8 decoder's MatMulNBits at accuracy level 4).
  const vision = qv ? 'int8' : 'fp32',
    decoder = q === 'none' ? 'fp32' : 'int8';
  // SAM's 32² point prompts; the prefix ≈ 300 positions (LLaVA's 256 image tokens and the prompt).
  const work: Record<string, [number, 'fp32' | 'int8']> = {
    proposals: [samEncoderFlops(1280, 32, 4) + samDecoderFlops(32 * 32), vision],
    dino: [dinoFlops(1, 4097, 1024, 24), vision],
    'vlm-prefix': [clipL14Flops() + llama7bFlops(300), decoder],
  };
  const share = (k: string, ms: number) => {
    const w = work[k];
    return w ? `${(w[0] / 1e12).toFixed(1)} | ${shareOf(peaks, w[1], w[0] / (ms / 1000))}` : ' | ';
  };
  console.log(`| load (createSegmenter) | ${s(m.load)} | | | | ${mem('load')} |`);
  for (const [k, v] of stages) {
    console.log(`| ${k} | ${s(v)} | ${((100 * v) / total).toFixed(0)} % | ${share(k, v)} | ${mem(k)} |`);
    // The proposals' parts (the post-processing's share depends on the masks: random weights'
    // noisy ones are its worst case, every tile evaluated pixel by pixel).
    const p = proposalTimings;
    if (k === 'proposals' && p) {
      const enc = samEncoderFlops(1280, 32, 4),
        dec = samDecoderFlops(32 * 32);
      console.log(
        `| · SAM encoder / decoder (1024 prompts) / post-processing | ${s(p.encoder)} / ${s(p.decoder)} / ${s(p.postProcessing)} | | ${(enc / 1e12).toFixed(1)} / ${(dec / 1e12).toFixed(1)} | ${shareOf(peaks, vision, enc / (p.encoder / 1000))} / ${shareOf(peaks, vision, dec / (p.decoder / 1000))} | |`,
      );
    }
  }
  console.log(`| reasoning, teacher-forced (the llm-seg preset) | ${s(m.forced)} | ${((100 * m.forced) / total).toFixed(0)} % | | | ${mem('forced')} |`);
  console.log(`| reasoning, generate: prefill to the first token | ${s(m.firstToken)} | | | | ${mem('generate')} |`);
  console.log(`| reasoning, generate: each further token | ${s(m.decodeMs)} (${m.tokens} tokens) | | | | |`);
  console.log(`| selection (head instruction step) | ${s(m.selection)} | ${((100 * m.selection) / total).toFixed(0)} % | | | ${mem('selection')} |`);
  console.log(
    `\nthis CPU's peaks (${peaks.threads} threads): ${Object.values(peaks.best)
      .map((p) => `${p.name} ${si(p.perSecond)}`)
      .join(', ')}`,
  );
  console.log(
    `\npeak RSS: ${m.rssLoaded.toFixed(2)} GiB after load, ${m.rssPrepared.toFixed(2)} GiB after the image stages, ${m.rssPeak.toFixed(2)} GiB at the end; anonymous peak ${m.anonPeak.toFixed(2)} GiB (file-backed then ${m.fileAtAnonPeak.toFixed(2)} GiB: mapped weights the kernel may drop)`,
  );
}

await main();
