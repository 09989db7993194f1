/**
 * The engine abstraction: one component of the model package (an ONNX file now, a TensorRT engine
 * later) run on named tensors. Callers never see which runtime is underneath.
 *
 * Outputs are `EngineValue`s rather than host tensors so that a GPU engine can hand back
 * device-resident results and the next engine can take them as inputs without a round trip through
 * host memory; a caller that needs the numbers asks for them with `host()`. The ONNX Runtime CPU
 * engine's values are already on the host, so `host()` costs nothing there.
 */
import type { DType, Tensor } from '../tensor.js';

/** A dimension of a tensor contract: a fixed size, or a symbol (the same symbol must agree). */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dtype: DType;
  dims: readonly Dim[];
}

export interface EngineValue {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  /** Where the data lives; 'cpu' for ONNX Runtime on the CPU. */
  readonly location: 'cpu' | 'cuda';
  /** The data on the host (free when it already is). */
  host(): Promise<Tensor>;
  /** For 'cuda' values: the native device tensor, which GPU consumers read in place. */
  readonly deviceTensor?: unknown;
  /** Frees device memory now rather than at garbage collection (a no-op for host values). */
  release?(): void;
}

export type EngineInput = Tensor | EngineValue;

export interface RunOptions {
  /** Checked before the run starts (ONNX Runtime cannot stop a run half-way). */
  signal?: AbortSignal;
  /**
   * Device buffers (from `Engine.allocate`) to write named outputs into, for engines that keep
   * values on the device; others ignore it.
   */
  into?: Readonly<Record<string, DeviceBuffer>>;
}

/** Device memory an engine writes outputs into (the VLM's preallocated key/value cache). */
export interface DeviceBuffer {
  readonly bytes: number;
  readonly handle: unknown;
  /** Drops this handle's hold on the memory now (values viewing it keep theirs). */
  release?(): void;
}

export interface Engine {
  /** The model-package component, e.g. "sam/decoder". */
  readonly component: string;
  /** The file it was loaded from. */
  readonly file: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** What runs it: 'cpu' or 'cuda' (ONNX Runtime's execution providers), 'tensorrt'. */
  readonly provider?: string;
  /** Why it runs somewhere other than asked (ONNX Runtime's CUDA provider missing); undefined otherwise. */
  readonly fallbackReason?: string;
  /**
   * The largest leading batch worth giving one run, for callers free to split their work (SAM's
   * point prompts): on the CPU, small batches keep a run's activations in the caches. Undefined:
   * no preference (a GPU engine takes what its profile allows).
   */
  readonly preferredBatch?: number;
  /**
   * Starts reading the engine's mapped weights into memory ahead of its next run, in the
   * background (the CPU model cache's pages, which earlier stages may have pushed out of the page
   * cache); resolves when the reads are queued. Only engines with mapped weights have it.
   */
  prefetch?(): Promise<void>;
  run(feeds: Readonly<Record<string, EngineInput>>, options?: RunOptions): Promise<Record<string, EngineValue>>;
  /** Device memory for `RunOptions.into`; only engines that keep values on the device have it. */
  allocate?(bytes: number): DeviceBuffer;
  /**
   * A decoder that can run the greedy loop where it lives and stream the tokens (Triton's
   * hrseg_vlm_generate): the tokens of one answer, or undefined where it cannot for this cache.
   */
  generate?(request: GenerateRequest): AsyncGenerator<GeneratedToken, GenerateEnd> | undefined;
  dispose(): Promise<void>;
}

/** What a streaming decoder's loop needs (lib/vlm/runner.ts's greedy loop, moved). */
export interface GenerateRequest {
  /** The cache to extend: past.{l}.key/value as the decoder's own step gave them. */
  past: Readonly<Record<string, EngineInput>>;
  /** The instruction's suffix embeddings [1, S, H], at positions start … start + S − 1. */
  embeds: Tensor<'float32'>;
  start: number;
  maxNewTokens: number;
  /** Token ids that end the answer (not emitted). */
  stopIds: readonly number[];
  /** The [SEG] id: its tokens come with their final-norm hidden state. */
  segId: number;
  signal?: AbortSignal;
}
export interface GeneratedToken {
  id: number;
  /** The hidden state at the step that produced it: given for [SEG] tokens. */
  hidden?: Float32Array;
}
export interface GenerateEnd {
  stop: 'eos' | 'limit';
}

export function isEngineValue(v: EngineInput): v is EngineValue {
  return typeof (v as EngineValue).host === 'function';
}
