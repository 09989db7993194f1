/**
 * hrseg beside its peers, stage by stage, in one run (issue #35; docs/performance.md "Peers"):
 *
 *   npm run bench:peers [-- --threads 2] [--model <dir>] [--only hrseg,sam,dino,torch-llama,llama.cpp]
 *                          [--hrseg-json <file>] [--tiny]
 *
 * - hrseg: the LLM-Seg-7B-shaped random package of `npm run bench:pipeline -- --quantize int4`
 *   (convert it with that command first), `segment()` on the image below through pipeline.ts's
 *   measuring process, and its int4 LLaMA-7B decoder alone through decoder.ts's (prefill 300
 *   tokens, 16 decode steps);
 * - PyTorch (scripts/bench/peers/torch_peers.py, each stage in a process of its own): the
 *   official segment-anything SamAutomaticMaskGenerator with ViT-H, DINOv2-L/14 at 896² as
 *   transformers' Dinov2Model (the official repository's torch.hub code cannot be fetched here),
 *   transformers' LlamaForCausalLM in bf16 (prefill 300 + decode);
 * - llama.cpp through node-llama-cpp's prebuilt CPU binary (scripts/bench/peers/llama-cpp.mjs) on
 *   a LLaMA-7B-shaped Q4_0 GGUF written with the gguf package (scripts/bench/peers/write_gguf.py)
 *   into /dev/shm for the run (3.9 GB: the disk of the development VM is short; mapped from
 *   memory, so llama.cpp's weights are resident as hrseg's page-cached ones are).
 *
 * The peers are installed outside the repo by scripts/bench/peers/install.sh (pinned versions;
 * run it first). All weights are random in the real shapes: SAM's are the same in both (the peer
 * computes lib/convert/random.ts's values bit for bit, so both get the same random masks to
 * post-process); DINOv2's and LLaMA's are the peers' own seeded draws of the same shapes (speed
 * does not depend on them). SAM's quality filters, which random weights fail, are off in both, so
 * both push the 1024 prompts of the 32² grid through everything.
 * --tiny runs the peers at toy sizes and hrseg not at all: a smoke test of the scripts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import sharp from 'sharp';

import { PHOTO_HEIGHT, PHOTO_WIDTH, photo } from './photo.js';

import { measureCpuPeaks, si } from './cpu-peaks.js';

const ROOT = join(homedir(), '.cache', 'hrseg');
const VENV_PYTHON = join(ROOT, 'peers-venv', 'bin', 'python');
const NODE_DIR = join(ROOT, 'peers-node');
const HERE = join(import.meta.dirname, 'peers');
const W = PHOTO_WIDTH,
  H = PHOTO_HEIGHT;

type Json = Record<string, unknown>;

/** Runs one measuring process; its last stdout line is its JSON result. */
function child(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Json | undefined {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${name} … (load ${loadavg()[0].toFixed(2)})\n`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    process.stderr.write(`  ${name} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${r.stderr.split('\n').slice(-15).join('\n')}\n`);
    return undefined;
  }
  const result = JSON.parse(line) as Json;
  process.stderr.write(`  ${line}\n`);
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '2' },
      model: { type: 'string' },
      only: { type: 'string' },
      'hrseg-json': { type: 'string' },
      tiny: { type: 'boolean', default: false },
    },
  });
  const threads = values.threads;
  const tiny = values.tiny;
  const only = values.only?.split(',');
  const want = (s: string) => !only || only.includes(s);
  if (!existsSync(VENV_PYTHON) || !existsSync(join(NODE_DIR, 'node_modules', 'node-llama-cpp')))
    throw new Error(`the peers are not installed: run bash scripts/bench/peers/install.sh (into ${ROOT})`);

  const work = join(ROOT, 'peers');
  mkdirSync(work, { recursive: true });
  const jpeg = join(work, 'image.jpg'),
    raw = join(work, 'image.rgb');
  const image = await photo();
  writeFileSync(jpeg, image);
  // The peers read the same decoded pixels (no image decoder needed in the venv).
  writeFileSync(raw, await sharp(image).removeAlpha().raw().toBuffer());

  process.stderr.write("measuring this CPU's peaks …\n");
  const peaks = await measureCpuPeaks(0.5, 512 * 2 ** 20);
  const loadBefore = loadavg();

  // hrseg, in processes of their own (the measuring modes of pipeline.ts and decoder.ts); its
  // ONNX Runtime sessions use one thread per core, which is --threads on the 2-core VM.
  let hrseg: Json | undefined, decoder: Json | undefined;
  const model = values.model ?? join(ROOT, 'bench-pipeline', 'llm-seg-7b-int4');
  if (values['hrseg-json']) ({ hrseg, decoder } = JSON.parse(readFileSync(values['hrseg-json'], 'utf8')) as { hrseg?: Json; decoder?: Json });
  else if (!tiny && want('hrseg')) {
    if (!existsSync(join(model, 'hrseg.json'))) throw new Error(`no package at ${model}: run npm run bench:pipeline -- --quantize int4 first`);
    const tsx = [...process.execArgv];
    hrseg = child('hrseg segment() (pipeline.ts)', process.execPath, [...tsx, join(import.meta.dirname, 'pipeline.ts'), '--child', model, '--image', jpeg]);
    decoder = child(
      'hrseg LLaMA-7B int4 decoder (decoder.ts)',
      process.execPath,
      [...tsx, join(import.meta.dirname, 'decoder.ts'), '--child', join(model, 'vlm', 'decoder.onnx'), '--no-cpu-cache'],
      {
        HRSEG_ORT_ACCURACY_LEVEL: '4', // the runtime's (decoder.ts sets it so too)
      },
    );
    writeFileSync(join(work, 'hrseg-last.json'), JSON.stringify({ hrseg, decoder }, null, 2));
  }

  const py = (stage: string) =>
    child(
      `PyTorch ${stage}`,
      VENV_PYTHON,
      [join(HERE, 'torch_peers.py'), stage, '--image', raw, '--width', String(W), '--height', String(H), '--threads', threads, ...(tiny ? ['--tiny'] : [])],
      {
        OMP_NUM_THREADS: threads,
      },
    );
  const sam = want('sam') ? py('sam') : undefined;
  const dino = want('dino') ? py('dino') : undefined;
  const torchLlama = want('torch-llama') ? py('llama') : undefined;

  let cpp: Json | undefined;
  if (want('llama.cpp')) {
    const gguf = join('/dev/shm', `hrseg-peers-llama-7b-q4_0${tiny ? '-tiny' : ''}.gguf`);
    try {
      const t0 = performance.now();
      child('writing the Q4_0 GGUF (gguf package)', VENV_PYTHON, [join(HERE, 'write_gguf.py'), gguf, ...(tiny ? ['--tiny'] : [])]);
      process.stderr.write(`  written in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
      cpp = child('llama.cpp (node-llama-cpp)', process.execPath, [
        join(HERE, 'llama-cpp.mjs'),
        NODE_DIR,
        gguf,
        threads,
        tiny ? '16' : '300',
        tiny ? '4' : '16',
      ]);
    } finally {
      rmSync(gguf, { force: true });
    }
  }
  const loadAfter = loadavg();
  // Every measurement of the run, for the record (the table below is made from these).
  writeFileSync(
    join(work, 'last-run.json'),
    JSON.stringify({ date: new Date().toISOString(), threads, tiny, loadBefore, loadAfter, peaks, hrseg, decoder, sam, dino, torchLlama, cpp }, null, 2),
  );

  // The table: hrseg ÷ peer as a time ratio (< 1: hrseg is faster).
  const n = (v: unknown) => (typeof v === 'number' ? v : NaN);
  const sec = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 1 ? 3 : 1) : '—');
  const tps = (tokens: number, s: number) => (Number.isFinite(s) ? ` (${(tokens / s).toFixed(1)} tokens/s)` : '');
  const rows: string[] = [];
  const row = (stage: string, h: number, p: number, peer: string, hNote = '', pNote = '') =>
    rows.push(`| ${stage} | ${sec(h)}${hNote} | ${sec(p)}${pNote} | ${Number.isFinite(h / p) ? (h / p).toFixed(2) : '—'} | ${peer} |`);
  const ms = (k: string) => n(hrseg?.[k]) / 1000;
  const peerName = (r: Json | undefined) => String(r?.version ?? 'not run');
  row(
    'proposals: SAM ViT-H encoder (1024²) + 32² point prompts + post-processing',
    ms('proposals'),
    n(sam?.seconds),
    peerName(sam),
    hrseg ? ` (${n(hrseg.proposalCount)} proposals)` : '',
    sam ? ` (encoder ${sec(n(sam.encoderSeconds))}; ${n(sam.masks)} masks)` : '',
  );
  row('DINOv2-L/14 at 896² (4097 tokens)', ms('dino'), n(dino?.seconds), peerName(dino));
  const prefill = tiny ? 16 : 300;
  const hPrefill = n(decoder?.prefillS),
    hStep = n(decoder?.stepMs) / 1000;
  row(
    `LLaMA-7B prefill, ${prefill} tokens`,
    hPrefill,
    n(torchLlama?.prefillSeconds),
    peerName(torchLlama),
    tps(prefill, hPrefill),
    tps(prefill, n(torchLlama?.prefillSeconds)),
  );
  row(
    `LLaMA-7B prefill, ${prefill} tokens`,
    hPrefill,
    n(cpp?.prefillSeconds),
    `${peerName(cpp)}, Q4_0`,
    tps(prefill, hPrefill),
    tps(prefill, n(cpp?.prefillSeconds)),
  );
  const decodeStage = `LLaMA-7B decode, per token (median of ${tiny ? 4 : 16} steps after the prefill)`;
  row(decodeStage, hStep, n(torchLlama?.decodeMedianSeconds), peerName(torchLlama), tps(1, hStep), tps(1, n(torchLlama?.decodeMedianSeconds)));
  row(decodeStage, hStep, n(cpp?.decodeMedianSeconds), `${peerName(cpp)}, Q4_0`, tps(1, hStep), tps(1, n(cpp?.decodeMedianSeconds)));

  console.log(
    `\nhrseg beside its peers, ${threads} threads, the same 1024×768 image, random weights in the real shapes${tiny ? ' (--tiny: toy sizes)' : ''}\n`,
  );
  console.log('| stage | hrseg s | peer s | hrseg ÷ peer (time; < 1: hrseg faster) | peer and version |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  if (hrseg)
    console.log(
      `\nhrseg in the same segment(): VLM prefix (CLIP + LLaMA-7B int4 prefix) ${sec(ms('vlm-prefix'))} s, teacher-forced reasoning ${sec(n(hrseg.forced) / 1000)} s, generate: first token ${sec(ms('firstToken'))} s, then ${sec(n(hrseg.decodeMs) / 1000)} s/token; hrseg's LLaMA rows above are its int4 decoder alone (decoder.ts's measurement on the same package's decoder.onnx)`,
    );
  if (torchLlama)
    console.log(
      `PyTorch LLaMA: ${n(torchLlama.layers)} layers, of which ${n(torchLlama.distinctLayers)} own their weights (the rest share them in rotation: 13.5 GB of bf16 does not fit beside the rest), attention ${String(torchLlama.attention)}`,
    );
  if (cpp) console.log(`llama.cpp: ${String(cpp.systemInfo).trim()}`);
  console.log(
    `\nthis CPU's peaks (${peaks.threads} threads): ${Object.values(peaks.best)
      .map((p) => `${p.name} ${si(p.perSecond)}`)
      .join(', ')}`,
  );
  console.log(`load average: ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after`);
}

await main();
