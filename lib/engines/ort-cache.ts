/**
 * ONNX Runtime's optimized copy of a large graph, with its pre-packed weights, kept on disk and
 * memory-mapped on later loads (README "CPU model cache").
 *
 * Why: on load, ONNX Runtime reads a graph's weights into its heap, rewrites them (a quantized
 * DequantizeLinear → MatMul becomes MatMulNBits with its own weight layout) and pre-packs them
 * for its kernels, keeping more than one copy: a 4.6 GB int4 7B decoder takes 8.3 GB of anonymous
 * memory and 44 s. Saved once with `session.save_external_prepacked_constant_initializers`, the
 * optimized graph loads in 11 s with its weights mapped from the file: 0.1 GB anonymous, the rest
 * page cache that the kernel can drop and read back under pressure (measured on the 2-core VM,
 * onnxruntime-node 1.30). The saved graph is specific to this ONNX Runtime version and this CPU
 * (ONNX Runtime says so: its layouts follow the instruction set), so the key holds both.
 *
 * An entry is `<dir>/<key>/model.onnx` (+ `model.onnx.data`, `meta.json`), written under a
 * temporary name and renamed whole; writing one drops older entries made from the same file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';

/** Graphs smaller than this (weights included) load fast and small without a cache. */
export const CPU_CACHE_MIN_BYTES = 256 * 2 ** 20;

/** The cache folder: HRSEG_CPU_CACHE, else ~/.cache/hrseg/cpu-models; undefined when HRSEG_CPU_CACHE=0. */
export function defaultCpuCacheDir(): string | undefined {
  const env = process.env.HRSEG_CPU_CACHE;
  if (env === '0' || env === 'off') return undefined;
  return env || join(homedir(), '.cache', 'hrseg', 'cpu-models');
}

/** What identifies this CPU's instruction set (the pre-packed layouts depend on it); read once per process. */
let signature: string | undefined;
function cpuSignature(): string {
  if (signature === undefined) {
    let flags = '';
    try {
      flags = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    } catch {
      // not Linux: the model name and architecture are what there is
    }
    signature = `${process.arch} ${cpus()[0]?.model ?? ''} ${flags}`;
  }
  return signature;
}

async function fileStamp(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return s ? `${s.size}:${s.mtimeMs}` : '-';
}

export interface CacheEntry {
  /** The optimized graph to load with optimizations off. */
  model: string;
  /** The folder of the entry. */
  dir: string;
}

/** The entry for `file` under `options`, and whether it is already there. */
export async function cacheEntry(
  dir: string,
  file: string,
  sessionKey: Record<string, unknown>,
): Promise<CacheEntry & { key: string; source: string; exists: boolean }> {
  const source = await realpath(file);
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        source,
        model: await fileStamp(source),
        data: await fileStamp(`${source}.data`),
        ort: ort.env.versions.common,
        cpu: cpuSignature(),
        session: sessionKey,
      }),
    )
    .digest('hex')
    .slice(0, 24);
  const entryDir = join(dir, key);
  const model = join(entryDir, 'model.onnx');
  return { key, source, dir: entryDir, model, exists: existsSync(join(entryDir, 'meta.json')) && existsSync(model) };
}

/** Total bytes of `file` and its external data file. */
export async function graphBytes(file: string): Promise<number> {
  const [a, b] = await Promise.all([stat(file).catch(() => undefined), stat(`${file}.data`).catch(() => undefined)]);
  return (a?.size ?? 0) + (b?.size ?? 0);
}

/**
 * Creates a session over `file` that writes the optimized graph with its pre-packed weights into
 * the entry, releases it, and renames the entry into place. Errors (disk full, read-only) reject;
 * a half-written entry is removed.
 */
export async function writeCacheEntry(entry: CacheEntry & { key: string; source: string }, base: ort.InferenceSession.SessionOptions): Promise<void> {
  const parent = join(entry.dir, '..');
  const tmp = `${entry.dir}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const session = await ort.InferenceSession.create(entry.source, {
      ...base,
      optimizedModelFilePath: join(tmp, 'model.onnx'),
      // ONNX Runtime warns that the saved graph is for this machine: the key says so already.
      logSeverityLevel: 3,
      extra: {
        ...(base.extra as Record<string, unknown>),
        session: {
          ...((base.extra as { session?: Record<string, string> } | undefined)?.session ?? {}),
          save_external_prepacked_constant_initializers: '1',
          optimized_model_external_initializers_file_name: 'model.onnx.data',
          optimized_model_external_initializers_min_size_in_bytes: '1024',
        },
      },
    } as ort.InferenceSession.SessionOptions);
    await session.release();
    await writeFile(join(tmp, 'meta.json'), JSON.stringify({ source: entry.source, ort: ort.env.versions.common, written: new Date().toISOString() }, null, 1));
    await rename(tmp, entry.dir).catch(async (e: NodeJS.ErrnoException) => {
      // Another process wrote the same entry meanwhile: keep theirs.
      if (e.code === 'ENOTEMPTY' || e.code === 'EEXIST') await rm(tmp, { recursive: true, force: true });
      else throw e;
    });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  // Older entries made from the same file are stale now.
  for (const name of readdirSync(parent)) {
    if (name === entry.key || name.includes('.partial-')) continue;
    const meta = await readFile(join(parent, name, 'meta.json'), 'utf8').catch(() => undefined);
    if (meta && (JSON.parse(meta) as { source?: string }).source === entry.source) await rm(join(parent, name), { recursive: true, force: true });
  }
}
