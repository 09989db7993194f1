/**
 * The public pipeline, as the method reads: an image → proposals (SAM) → features (DINOv2, HRP,
 * HRE: the head's image step) → the VLM's prefix; then per instruction → the answer and its [SEG]
 * states (reasoning) → the masks (the head's selection over the proposals; for the lisa preset,
 * LISA's decoder prompted by each [SEG] instead). Each stage lives in lib/pipeline/ (lisa's in
 * lib/lisa/method.ts); the engines come from an engine provider (lib/engines/select.ts).
 *
 * `prepare()` does every image-only stage once; `segment()` on a PreparedImage pays only for the
 * reasoning and the masks. Calls on one Segmenter run one at a time, in call order (the engines
 * and the thread pool are shared; queuing keeps memory bounded and results identical); create
 * several segmenters to run images in parallel.
 */
import { HrsegError } from './errors.js';
import { selectEngineSource } from './engines/select.js';
import { loadImage, type ImageInput } from './image.js';
import { noProposals } from './lisa/method.js';
import { readPackage, type ModelPackage } from './package/manifest.js';
import { usesProposals } from './package/presets.js';
import { eventStream } from './pipeline/event-stream.js';
import { loadParts } from './pipeline/load.js';
import type { Method } from './pipeline/method.js';
import { reasoningStage } from './pipeline/reasoning.js';
import { downscaledSize } from './pipeline/resize.js';
import { stageTimer, type TimeStage } from './pipeline/timings.js';
import type { PrepareOptions, PreparedImage, SegmentEvent, SegmentOptions, SegmentResult, SegmenterOptions, StageTimings } from './pipeline/types.js';
import { tensor, type Tensor } from './tensor.js';
import type { VlmRunner } from './vlm/runner.js';

export type {
  Device,
  PrepareOptions,
  PreparedImage,
  SegmentEvent,
  SegmentOptions,
  SegmentPart,
  SegmentResult,
  SegmenterOptions,
  StageTimings,
} from './pipeline/types.js';

export class Segmenter {
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;
  /** Prepared images whose release() was called: segmenting them is refused, whatever the device. */
  readonly #released = new WeakSet<PreparedImage>();

  private constructor(
    readonly model: ModelPackage,
    /** The engine provider that runs it: 'cpu', 'cuda', 'tensorrt' or a registered one. */
    readonly device: string,
    /** Why this device: 'asked for', or what 'auto' found. */
    readonly deviceReason: string,
    private readonly method: Method,
    private readonly vlm: VlmRunner,
    private readonly maxPixels: number | undefined,
    private readonly proposalMaxSide: number | undefined,
  ) {}

  static async create(options: SegmenterOptions): Promise<Segmenter> {
    if (!options || typeof options.model !== 'string') throw new HrsegError('INVALID_ARGUMENT', 'createSegmenter: `model` (a package directory) is required');
    if (options.proposalMaxSide !== undefined) downscaledSize(1, 1, options.proposalMaxSide); // validates it
    const pkg = await readPackage(options.model);
    if (!usesProposals(pkg.preset) && options.proposalMaxSide !== undefined) throw noProposals();
    const { source, reason } = await selectEngineSource(options.device ?? 'auto', pkg, options);
    const { method, vlm } = await loadParts(pkg, source, options.signal);
    return new Segmenter(pkg, source.device, reason, method, vlm, options.maxPixels, options.proposalMaxSide);
  }

  /** Where each backbone runs ('cuda' through ONNX Runtime's CUDA provider, or 'cpu'; 'tensorrt'; 'triton'), the VLM's included. */
  get backbones(): Record<string, { provider: string; fallbackReason?: string }> {
    const out: Record<string, { provider: string; fallbackReason?: string }> = {};
    for (const e of [...this.method.engines, ...this.vlm.engines])
      out[e.component] = { provider: e.provider ?? this.device, ...(e.fallbackReason ? { fallbackReason: e.fallbackReason } : {}) };
    return out;
  }

  /** Runs `fn` after every earlier call on this segmenter has settled. */
  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#disposed) throw new HrsegError('INVALID_ARGUMENT', 'this segmenter has been disposed');
      return fn();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The image-only stages, reusable for any number of instructions. */
  prepare(image: ImageInput, options: PrepareOptions = {}): Promise<PreparedImage> {
    return this.#enqueue(() => this.#prepare(image, options));
  }

  async #prepare(image: ImageInput, options: PrepareOptions): Promise<PreparedImage> {
    const { signal } = options;
    const timings: StageTimings = {};
    const timer = stageTimer(timings);
    // The VLM's mapped weights (gigabytes for a 7B decoder on the CPU) are read into the page cache
    // while DINOv2 runs, after SAM (whose own weights are being read before that), so that the
    // prefix does not wait on the disk page by page where the earlier stages pushed them out.
    const time: TimeStage = (stage, run) => {
      if (stage === 'dino') for (const e of this.vlm.engines) void e.prefetch?.();
      return timer(stage, run);
    };
    const img = await time('decode', () => loadImage(image, { maxPixels: this.maxPixels, signal }));
    const { release: releaseStages, ...stages } = await this.method.imageStep(img, {
      time,
      signal,
      onProgress: options.onProgress,
      proposalMaxSide: options.proposalMaxSide ?? this.proposalMaxSide,
    });
    let vlm;
    try {
      vlm = await time('vlm-prefix', () => this.vlm.prepare(img, { signal }));
    } catch (error) {
      releaseStages();
      throw error;
    }
    const prepared: PreparedImage = {
      width: img.width,
      height: img.height,
      ...stages,
      vlm,
      timings,
      release: () => {
        this.#released.add(prepared);
        vlm.release();
        releaseStages();
      },
      owner: this,
    };
    return prepared;
  }

  /** Segments what `instruction` asks for. `image` may be a PreparedImage from this segmenter. */
  segment(image: ImageInput | PreparedImage, instruction: string, options: SegmentOptions = {}): Promise<SegmentResult> {
    return this.#enqueue(async () => {
      let result: SegmentResult | undefined;
      for await (const e of this.#run(image, instruction, options)) if (e.type === 'result') result = e.result;
      return result!;
    });
  }

  /** Like segment(), as events: prepared, each answer token, scores per [SEG], the result. */
  segmentStream(image: ImageInput | PreparedImage, instruction: string, options: SegmentOptions = {}): AsyncIterable<SegmentEvent> {
    return eventStream<SegmentEvent>((emit) =>
      this.#enqueue(async () => {
        for await (const e of this.#run(image, instruction, options)) emit(e);
      }),
    );
  }

  async *#run(input: ImageInput | PreparedImage, instruction: string, options: SegmentOptions): AsyncGenerator<SegmentEvent> {
    if (typeof instruction !== 'string' || instruction.trim() === '') throw new HrsegError('INVALID_ARGUMENT', 'the instruction is empty');
    const t0 = performance.now();
    const isPrepared = typeof input === 'object' && input !== null && 'owner' in input && 'vlm' in input;
    if (isPrepared && (input as PreparedImage).owner !== this) throw new HrsegError('INVALID_ARGUMENT', 'this PreparedImage was made by another segmenter');
    if (isPrepared && this.#released.has(input as PreparedImage))
      throw new HrsegError('INVALID_ARGUMENT', 'this PreparedImage has been released: prepare the image again');
    const prepared = isPrepared
      ? (input as PreparedImage)
      : await this.#prepare(input as ImageInput, { signal: options.signal, onProgress: options.onProgress, proposalMaxSide: options.proposalMaxSide });
    try {
      yield { type: 'prepared', proposals: prepared.proposals.masks.dims[0], timings: isPrepared ? {} : prepared.timings };
      yield* this.#answer(prepared, isPrepared, instruction, options, t0);
    } finally {
      // An image prepared for this call alone frees its device state here; a PreparedImage keeps
      // it until its release() or the segmenter's dispose.
      if (!isPrepared) prepared.release();
    }
  }

  async *#answer(prepared: PreparedImage, isPrepared: boolean, instruction: string, options: SegmentOptions, t0: number): AsyncGenerator<SegmentEvent> {
    const tReason = performance.now();
    const answer = yield* reasoningStage(this.vlm, prepared.vlm, instruction, this.model, options);
    const tMasks = performance.now();
    const masks = yield* this.method.maskStep(prepared, answer.seg as Tensor<'float32'>, { signal: options.signal, selection: options.selection });
    const mask = new Uint8Array(prepared.width * prepared.height);
    for (const part of masks.segments) for (let i = 0; i < mask.length; i++) mask[i] |= part.mask[i];
    const tEnd = performance.now();
    const timings: StageTimings = {
      ...(isPrepared ? {} : prepared.timings),
      reasoning: tMasks - tReason,
      [this.method.maskStage]: tEnd - tMasks,
      total: tEnd - t0,
    };
    const result: SegmentResult = {
      width: prepared.width,
      height: prepared.height,
      mask,
      answer: answer.text,
      segments: masks.segments,
      chosen: [...new Set(masks.segments.flatMap((s) => s.chosen))].sort((a, b) => a - b),
      proposals: prepared.proposals,
      timings,
      ...(masks.lowRes ? { lowRes: masks.lowRes } : {}),
    };
    yield { type: 'result', result };
  }

  /** Releases the models once running calls have finished. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    const pending = this.#queue;
    this.#disposed = true;
    await pending;
    await Promise.all([this.method.dispose(), this.vlm.dispose()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

export function createSegmenter(options: SegmenterOptions): Promise<Segmenter> {
  return Segmenter.create(options);
}

/** A mask as a tensor, for APIs that take one. */
export function maskTensor(result: SegmentResult): Tensor<'uint8'> {
  return tensor('uint8', [result.height, result.width], result.mask);
}
