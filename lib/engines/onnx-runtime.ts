/**
 * The ONNX Runtime engine (onnxruntime-node, CPU execution provider). Inputs are wrapped, not
 * copied: an ort.Tensor over the caller's TypedArray. The model file is checked against its
 * contract as soon as the session is created, before any run.
 */
import { existsSync } from 'node:fs';
import { mkdir, realpath, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import * as ort from 'onnxruntime-node';

import { abortError } from '../abort.js';
import { HrsegError, type HrsegErrorCode } from '../errors.js';
import type { DType } from '../tensor.js';
import { checkContract } from './contracts.js';
import { CPU_CACHE_MIN_BYTES, cacheEntry, defaultCpuCacheDir, graphBytes, writeCacheEntry } from './ort-cache.js';
import { isEngineValue, type Engine, type EngineInput, type EngineValue, type RunOptions, type TensorSpec } from './types.js';
import { HostValue } from './host-value.js';
import { native } from '../native.js';

interface NativePages {
  releaseFilePages(prefix: string): { bytes: number; mappings: number; skipped: number };
  prefetchFilePages(prefix: string): Promise<number>;
  trimHeap(): boolean;
}

export interface OnnxEngineOptions {
  /** Threads ONNX Runtime uses inside one operator (default: ONNX Runtime's choice, one per core). */
  intraOpThreads?: number;
  /** Values for the contract's symbols that the manifest fixes, e.g. { S: 1024 }. */
  bindings?: Readonly<Record<string, number>>;
  /**
   * 'cuda' tries ONNX Runtime's CUDA execution provider first (present when onnxruntime-node was
   * installed with its GPU files) and falls back to the CPU, saying why in `fallbackReason`.
   */
  provider?: 'cpu' | 'cuda';
  /**
   * ONNX Runtime's optimized copy of large graphs with their pre-packed weights, saved once and
   * memory-mapped afterwards (ort-cache.ts; README "CPU model cache"). Default: on, in
   * HRSEG_CPU_CACHE or ~/.cache/hrseg/cpu-models, for graphs of 256 MiB and more; false: off.
   */
  cpuCache?: false | { dir?: string; minBytes?: number };
  /**
   * ONNX Runtime's memory arena (default true). Off, the activations of a run are returned to the
   * system after it instead of staying reserved for the next: what the large vision encoders want
   * when several sit in one process (SAM-H's peak alone is ~10 GB).
   */
  memoryArena?: boolean;
  /** Engine.preferredBatch when the session runs on the CPU provider. */
  cpuBatch?: number;
  /**
   * For networks that run once per image: after each run, hand the pages of the weights mapped
   * from the CPU model cache back to the page cache (native releaseFilePages), and malloc's freed
   * activations back to the system (trimHeap), so that they do not stay in the process's
   * resident set beside every later stage's. The next run faults the weights back in, from memory
   * while the page cache holds them. (Every cached graph's pages are handed back once after load:
   * the entry holds the original weights beside their pre-packed copies, and loading reads both.)
   */
  releaseAfterRun?: boolean;
}

/**
 * ONNX Runtime's accuracy level for the fused MatMulNBits kernels that quantized weights run on:
 * 4 quantizes the activations to int8 per block (3× faster per token than 1, float32; README
 * "Quantized decoders" has both measured). Set explicitly so that a new ONNX Runtime default does
 * not change results silently; HRSEG_ORT_ACCURACY_LEVEL=1 chooses float32.
 */
export const MATMUL_NBITS_ACCURACY_LEVEL = process.env.HRSEG_ORT_ACCURACY_LEVEL ?? '4';

/**
 * Why ONNX Runtime's CUDA provider cannot load, or undefined when its files are there. Checked
 * up front: trying without them makes ONNX Runtime print an error line for an expected situation.
 */
function cudaProviderMissing(): string | undefined {
  try {
    const root = dirname(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')));
    const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    const lib = join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so');
    return existsSync(lib)
      ? undefined
      : `onnxruntime-node was installed without its CUDA provider (${lib} is missing; install it without onnxruntime-node-install=skip)`;
  } catch (e) {
    return `onnxruntime-node could not be located (${(e as Error).message})`;
  }
}

const ORT_TYPES: Partial<Record<string, DType>> = {
  float32: 'float32',
  float16: 'float16',
  int32: 'int32',
  int64: 'int64',
  uint8: 'uint8',
  bool: 'bool',
};

function specOf(meta: ort.InferenceSession.ValueMetadata): TensorSpec {
  if (!meta.isTensor) return { name: meta.name, dtype: 'uint8', dims: ['<not a tensor>'] };
  const dtype = ORT_TYPES[meta.type] ?? (meta.type as DType);
  return { name: meta.name, dtype, dims: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) };
}

export class OnnxEngine implements Engine {
  private disposed = false;
  /** The execution provider the session runs on. */
  provider: 'cpu' | 'cuda' = 'cpu';
  /** Why 'cuda' was asked for but the CPU is used; undefined otherwise. */
  fallbackReason?: string;
  /** Engine.preferredBatch: set on the CPU provider for components that have one. */
  preferredBatch?: number;
  /** Resident bytes of mapped weights handed back so far (after load, and after runs with releaseAfterRun). */
  weightBytesReleased = 0;
  /** The CPU model cache entry the weights are mapped from. */
  private weightsDir?: string;
  private releaseAfterRun = false;
  /** The CPU model cache for this graph: 'hit', 'written' (this load made it), 'off', or 'not used: <why>'. */
  cpuCache = 'off';

  private constructor(
    readonly component: string,
    readonly file: string,
    private readonly session: ort.InferenceSession,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
  ) {}

  static async load(file: string, component: string, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw new HrsegError('MODEL_FILE', `${component}: model file not found: ${file}`);
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
      ...(options.memoryArena === false ? { enableCpuMemArena: false } : {}),
      extra: { session: { qdq_matmulnbits_accuracy_level: MATMUL_NBITS_ACCURACY_LEVEL } },
    } as ort.InferenceSession.SessionOptions;
    let session: ort.InferenceSession | undefined;
    let fallbackReason: string | undefined;
    if (options.provider === 'cuda') {
      fallbackReason = cudaProviderMissing();
      if (!fallbackReason)
        try {
          session = await ort.InferenceSession.create(file, { ...base, executionProviders: ['cuda', 'cpu'] });
        } catch (cause) {
          fallbackReason = `ONNX Runtime's CUDA provider did not load (${(cause as Error).message})`;
        }
    }
    const cpu = { ...base, executionProviders: ['cpu'] };
    let cache: string = 'off';
    let cacheEntryDir: string | undefined;
    const cacheOptions = options.cpuCache === false ? undefined : options.cpuCache;
    const cacheDir = options.cpuCache === false ? undefined : (cacheOptions?.dir ?? defaultCpuCacheDir());
    if (!session && cacheDir && (await graphBytes(file)) >= (cacheOptions?.minBytes ?? CPU_CACHE_MIN_BYTES)) {
      let entry: Awaited<ReturnType<typeof cacheEntry>> | undefined;
      try {
        entry = await cacheEntry(cacheDir, file, { level: base.graphOptimizationLevel, accuracy: MATMUL_NBITS_ACCURACY_LEVEL });
        cache = entry.exists ? 'hit' : 'written';
        if (!entry.exists) {
          await mkdir(cacheDir, { recursive: true });
          await writeCacheEntry(entry, cpu);
        }
        // Already optimized: running the optimizers again would only redo the work.
        session = await ort.InferenceSession.create(entry.model, { ...cpu, graphOptimizationLevel: 'disabled' });
        cacheEntryDir = await realpath(entry.dir);
      } catch (cause) {
        // Whatever went wrong (a full disk, a damaged entry), the graph itself still loads.
        if (entry) await rm(entry.dir, { recursive: true, force: true }).catch(() => undefined);
        cache = `not used: ${(cause as Error).message.split('\n')[0]}`;
      }
    }
    try {
      session ??= await ort.InferenceSession.create(file, cpu);
    } catch (cause) {
      throw ortFailure('MODEL_FILE', `${file} could not be loaded by ONNX Runtime`, cause);
    }
    const inputs = session.inputMetadata.map(specOf);
    const outputs = session.outputMetadata.map(specOf);
    try {
      checkContract(file, component, { inputs, outputs }, options.bindings);
    } catch (error) {
      await session.release();
      throw error;
    }
    const engine = new OnnxEngine(component, file, session, inputs, outputs);
    engine.provider = options.provider === 'cuda' && !fallbackReason ? 'cuda' : 'cpu';
    engine.fallbackReason = fallbackReason;
    if (engine.provider === 'cpu') engine.preferredBatch = options.cpuBatch;
    engine.weightsDir = cacheEntryDir;
    engine.releaseAfterRun = options.releaseAfterRun === true;
    engine.releaseMemory();
    engine.cpuCache = cache;
    return engine;
  }

  async run(feeds: Readonly<Record<string, EngineInput>>, options: RunOptions = {}): Promise<Record<string, EngineValue>> {
    if (this.disposed) throw new HrsegError('INVALID_ARGUMENT', `${this.component}: this engine has been disposed`);
    if (options.signal?.aborted) throw abortError(options.signal);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const spec of this.inputs) {
      const value = feeds[spec.name];
      if (!value) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${spec.name}' was not given`);
      const t = isEngineValue(value) ? await value.host() : value;
      if (t.dtype !== spec.dtype) throw new HrsegError('INVALID_TENSOR', `${this.component}: input '${spec.name}' must be ${spec.dtype}, got ${t.dtype}`);
      const bad = t.dims.length !== spec.dims.length || spec.dims.some((d, i) => typeof d === 'number' && d !== t.dims[i]);
      if (bad)
        throw new HrsegError(
          'INVALID_TENSOR',
          `${this.component}: input '${spec.name}' has shape [${t.dims.join(', ')}], the model takes [${spec.dims.join(', ')}]`,
        );
      ortFeeds[spec.name] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims as number[]);
    }
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(ortFeeds);
    } catch (cause) {
      throw ortFailure('INTERNAL', `${this.component} (${this.file}) failed to run`, cause);
    }
    if (this.releaseAfterRun) this.releaseMemory();
    if (options.signal?.aborted) throw abortError(options.signal);
    const out: Record<string, EngineValue> = {};
    for (const [name, value] of Object.entries(result)) {
      const t = value as ort.Tensor;
      out[name] = new HostValue(name, { dtype: t.type as DType, dims: [...t.dims], data: t.data as Float32Array });
    }
    return out;
  }

  /**
   * The mapped weights read into the page cache ahead of the next run (native prefetchFilePages:
   * readahead on a worker thread; the resident set does not grow). Without mapped weights, or
   * without the native binary, nothing happens: it only saves waiting on the disk later.
   */
  async prefetch(): Promise<void> {
    if (!this.weightsDir || this.disposed) return;
    try {
      await (native() as unknown as NativePages).prefetchFilePages(`${this.weightsDir}/`);
    } catch {
      // a hint, not a requirement
    }
  }

  /** Mapped weights' pages back to the page cache; with releaseAfterRun, malloc's free memory too. */
  private releaseMemory(): void {
    try {
      const api = native() as unknown as NativePages;
      if (this.weightsDir) this.weightBytesReleased += api.releaseFilePages(`${this.weightsDir}/`).bytes;
      if (this.releaseAfterRun) api.trimHeap();
    } catch {
      // No native binary: the pages stay resident, which costs memory, not correctness.
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }
}

// ONNX Runtime's words when memory runs out: its arena's "Failed to allocate memory for requested
// buffer of size N" (CPU and CUDA), CUDA's "out of memory", C++'s std::bad_alloc ("bad allocation").
const ORT_OUT_OF_MEMORY = /failed to allocate memory|out of memory|bad[ _]alloc/i;

/** An ONNX Runtime failure as an HrsegError: `OUT_OF_MEMORY` when memory ran out, else `code`. */
export function ortFailure(code: HrsegErrorCode, what: string, cause: unknown): HrsegError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new HrsegError(ORT_OUT_OF_MEMORY.test(message) ? 'OUT_OF_MEMORY' : code, `${what}: ${message}`, { cause });
}
