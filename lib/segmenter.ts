/**
 * The public pipeline (SPEC.md section 1): image → proposals (SAM), features (DINOv2), HRP + HRE
 * (head image step), the VLM's prefix → per instruction: the answer and h_seg, then the head's
 * instruction step → the mask. The lisa preset (SPEC 11.1) instead keeps SAM's image embedding
 * and, per [SEG], prompts LISA's SAM decoder with it (lib/lisa/head.ts): no proposals, no DINOv2.
 *
 * `prepare()` does every image-only stage once; `segment()` on a PreparedImage pays only for the
 * reasoning and the selection. Calls on one Segmenter run one at a time, in call order (the
 * engines and the thread pool are shared; queuing keeps memory bounded and results identical);
 * create several segmenters to run images in parallel.
 */
import { abortError } from './abort.js';
import { HrsegError } from './errors.js';
import { Head, type ImageFeatures, type SelectionConfig } from './head.js';
import { loadImage, type ImageInput, type RgbImage } from './image.js';
import { OnnxEngine } from './engines/onnx-runtime.js';
import { TrtEngine } from './engines/tensorrt.js';
import { findEngines, type EngineSet } from './trt/engine-set.js';
import type { Engine } from './engines/types.js';
import { LisaHead, TextProjection } from './lisa/head.js';
import { readPackage, type ModelPackage } from './package/manifest.js';
import { backboneComponents, usesProposals, type PresetName } from './package/presets.js';
import { dinoFeatures } from './pipeline/dino.js';
import { areaDownscale, downscaledSize, resizeNearest } from './pipeline/resize.js';
import { emptyProposals, generateProposals, type Proposals } from './proposals/mask-generator.js';
import { runtimeInfo } from './runtime.js';
import { tensor, type Tensor } from './tensor.js';
import { squareView } from './views.js';
import { VlmRunner, type VlmContext } from './vlm/runner.js';
import type { QueryForm } from './vlm/template.js';

export type Device = 'cpu' | 'cuda' | 'tensorrt' | 'auto';

export interface SegmenterOptions {
  /** A model package directory (DESIGN.md). */
  model: string;
  /** 'auto' (default) picks the best this machine runs; 'cpu' always works. */
  device?: Device;
  /** Largest image accepted, in pixels (default 2^28). */
  maxPixels?: number;
  /** Default for PrepareOptions.proposalMaxSide (none: SAM sees the image itself). */
  proposalMaxSide?: number;
  signal?: AbortSignal;
}

export interface PrepareOptions {
  signal?: AbortSignal;
  /** Progress of the image stages (today: 'proposals', prompts done of total). */
  onProgress?: (stage: string, done: number, total: number) => void;
  /**
   * Run SAM on the image shrunk to this longest side (OpenCV's INTER_AREA) when it is larger, as
   * LLM-Seg made its proposals (1024). The head pools those proposals at that size; every mask
   * in the result is brought back to the image's size with PyTorch's nearest resize (the union
   * of the chosen proposals resized back). Default: the segmenter's `proposalMaxSide`, else none.
   * The lisa preset has no proposals and refuses it.
   */
  proposalMaxSide?: number;
}

export interface StageTimings {
  [stage: string]: number;
}

/** Both engines, or neither: one that opened is closed when the other failed (its device memory with it). */
async function openPair(vision: Promise<Engine>, decoder: Promise<Engine>): Promise<{ vision: Engine; decoder: Engine }> {
  const [v, d] = await Promise.allSettled([vision, decoder]);
  if (v.status === 'fulfilled' && d.status === 'fulfilled') return { vision: v.value, decoder: d.value };
  await Promise.all([v.status === 'fulfilled' ? v.value.dispose() : undefined, d.status === 'fulfilled' ? d.value.dispose() : undefined]);
  throw (v.status === 'rejected' ? v.reason : (d as PromiseRejectedResult).reason) as Error;
}

export interface PreparedImage {
  readonly width: number;
  readonly height: number;
  /**
   * SAM's proposals, at `proposalSize` (the image's own size unless proposalMaxSide shrank it).
   * The lisa preset makes none: an empty set.
   */
  readonly proposals: Proposals;
  readonly proposalSize: { readonly width: number; readonly height: number };
  /** How many views DINOv2 encoded: 1 + N² with HRP, 1 without (the llm-seg preset), 0 for lisa. */
  readonly dinoViews: number;
  /** The head's image step (HRP, HRE, pooling); absent for the lisa preset. */
  readonly features?: ImageFeatures;
  /** The lisa preset: SAM's image embedding [1, 256, 64, 64], prompted once per [SEG]. */
  readonly samEmbedding?: Tensor<'float32'>;
  readonly vlm: VlmContext;
  /** ms per image-only stage */
  readonly timings: StageTimings;
  /**
   * Frees what this image holds on the device (the VLM's key/value cache of the image prefix on
   * TensorRT, a CUDA head's M_HRE and proposals) now rather than at the segmenter's dispose or
   * when it is collected. Segmenting it afterwards is an error.
   */
  release(): void;
  /** @internal */
  readonly owner: Segmenter;
}

export interface SegmentOptions {
  signal?: AbortSignal;
  /** As PrepareOptions.proposalMaxSide, when `image` is not a PreparedImage. */
  proposalMaxSide?: number;
  /** How the instruction is phrased in the prompt (default from the manifest, 'sentence'). */
  form?: QueryForm;
  /** 'generate' (default) or 'teacher-forced' (the evaluation protocol of LISA and LLM-Seg). */
  mode?: 'generate' | 'teacher-forced';
  /** Override the manifest's selection strategy for this call (the lisa preset has no selection). */
  selection?: Partial<SelectionConfig>;
  maxNewTokens?: number;
  /** Progress of the image stages (today: 'proposals', prompts done of total). */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface SegmentPart {
  /** This [SEG]'s mask, width × height, 0/1. */
  mask: Uint8Array;
  /* The lisa preset chooses no proposals: chosen [], fallback false, similarity and iop empty. */
  /** lisa: the logits the mask was thresholded from (> 0), width × height (LISA's postprocess). */
  logits?: Float32Array;
  chosen: number[];
  /**
   * True when the strategy chose nothing and top1-sim was used instead. With the selection's
   * fallback 'none' (the llm-seg preset) such a segment has `chosen: []`, `fallback: false` and an
   * empty mask.
   */
  fallback: boolean;
  similarity: Float32Array;
  iop: Float32Array;
}

export interface SegmentResult {
  width: number;
  height: number;
  /** The union of every [SEG]'s mask, width × height, 0/1 (all zero when the answer had no [SEG]). */
  mask: Uint8Array;
  /** The model's answer text. */
  answer: string;
  /** One entry per [SEG] in the answer, in order. */
  segments: SegmentPart[];
  /** Chosen proposal indices of all segments (ascending, unique). */
  chosen: number[];
  /** The proposals this was chosen from (at `lowRes`'s size when proposalMaxSide shrank the image). */
  proposals: Proposals;
  /**
   * Only when proposalMaxSide shrank the image: the union mask at the proposals' size, before the
   * nearest resize to the image (what LLM-Seg's scorer resizes; `hrseg eval --score-size` uses it).
   */
  lowRes?: { mask: Uint8Array; width: number; height: number };
  /** ms per stage: image stages (0 when a PreparedImage was reused), reasoning, selection (lisa: masks), total. */
  timings: StageTimings;
}

export type SegmentEvent =
  | { type: 'prepared'; proposals: number; timings: StageTimings }
  | { type: 'token'; id: number; text: string }
  | { type: 'scores'; segment: number; similarity: Float32Array; iop: Float32Array; chosen: number[]; fallback: boolean }
  | { type: 'result'; result: SegmentResult };

/**
 * 'cuda' runs the head and the mask post-processing on the GPU (the backbones stay on ONNX
 * Runtime, its CUDA provider when installed); 'tensorrt' runs SAM, DINOv2 and the VLM on the
 * package's TensorRT engines (hrseg build-engines) and the head on the GPU; 'auto' picks tensorrt when
 * TensorRT loads and engines for this GPU exist, else cuda when a device is usable, else cpu.
 */
async function pickDevice(requested: Device, model: string, components: readonly string[]): Promise<{ device: 'cpu' | 'cuda' | 'tensorrt'; reason: string; engines?: EngineSet }> {
  if (requested === 'cpu') return { device: 'cpu', reason: 'asked for' };
  if (requested !== 'cuda' && requested !== 'tensorrt' && requested !== 'auto')
    throw new HrsegError('INVALID_ARGUMENT', `device must be 'cpu', 'cuda', 'tensorrt' or 'auto', got '${String(requested)}'`);
  const info = runtimeInfo();
  const usable = info.build.cuda && info.cuda.available;
  const whyNoCuda = !info.build.cuda ? 'this binary was built without CUDA' : (info.cuda.reason ?? 'no CUDA device');
  if (requested === 'tensorrt') {
    // TensorRT first: its absence (libnvinfer) is what a user must fix before anything else.
    if (!info.tensorrt.loadable) throw new HrsegError('DEVICE_UNAVAILABLE', `device 'tensorrt': ${info.tensorrt.reason ?? 'TensorRT is not available'}`);
    if (!usable) throw new HrsegError('DEVICE_UNAVAILABLE', `device 'tensorrt': ${whyNoCuda}`);
    return { device: 'tensorrt', reason: 'asked for', engines: await findEngines(model, components) };
  }
  if (requested === 'auto') {
    if (!usable) return { device: 'cpu', reason: `no GPU: ${whyNoCuda}` };
    if (info.tensorrt.loadable) {
      try {
        return { device: 'tensorrt', reason: 'TensorRT and engines for this GPU', engines: await findEngines(model, components) };
      } catch (e) {
        return { device: 'cuda', reason: `TensorRT engines not usable: ${(e as Error).message}` };
      }
    }
    return { device: 'cuda', reason: `TensorRT not available: ${info.tensorrt.reason}` };
  }
  if (!usable) throw new HrsegError('DEVICE_UNAVAILABLE', `device 'cuda': ${whyNoCuda}`);
  return { device: 'cuda', reason: 'asked for' };
}

/** The components that run on TensorRT engines in a segmenter of this preset. */

const noProposals = () => new HrsegError('INVALID_ARGUMENT', 'proposalMaxSide: the lisa preset makes no proposals (its SAM sees the image resized to 1024)');

/** What turns an image and a [SEG] into a mask: the HRSeg/LLM-Seg head over proposals, or LISA's decoder. */
type Method =
  | { kind: 'head'; samDecoder: Engine; dino: Engine; head: Head }
  | { kind: 'lisa'; lisa: LisaHead };

export class Segmenter {
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;
  /** Prepared images whose release() was called: segmenting them is refused, whatever the device. */
  readonly #released = new WeakSet<PreparedImage>();

  private constructor(
    readonly model: ModelPackage,
    readonly device: 'cpu' | 'cuda' | 'tensorrt',
    /** Why this device: 'asked for', or what 'auto' found. */
    readonly deviceReason: string,
    private readonly samEncoder: Engine,
    private readonly method: Method,
    private readonly vlm: VlmRunner,
    private readonly maxPixels: number | undefined,
    private readonly proposalMaxSide: number | undefined,
  ) {}

  static async create(options: SegmenterOptions): Promise<Segmenter> {
    if (!options || typeof options.model !== 'string') throw new HrsegError('INVALID_ARGUMENT', 'createSegmenter: `model` (a package directory) is required');
    if (options.proposalMaxSide !== undefined) downscaledSize(1, 1, options.proposalMaxSide); // validates it
    const pkg = await readPackage(options.model);
    const lisa = !usesProposals(pkg.preset);
    if (lisa && options.proposalMaxSide !== undefined) throw noProposals();
    const picked = await pickDevice(options.device ?? 'auto', options.model, backboneComponents(pkg.preset));
    const device = picked.device;
    const gpuHead = device === 'cpu' ? 'cpu' : 'cuda';
    const f = pkg.files;
    // Load everything, then report every failure at once.
    // On 'cuda' the backbones try ONNX Runtime's CUDA provider (and say so when they fall back).
    const provider = gpuHead;
    const trt = picked.engines;
    const onnx = (file: string, component: string, extra: Parameters<typeof OnnxEngine.load>[2] = {}) =>
      trt ? TrtEngine.load(trt.plan(component), component) : OnnxEngine.load(file, component, { provider, ...extra });
    const encoder = onnx(f.samEncoder, 'sam/encoder', { bindings: { S: pkg.views.sam.size }, memoryArena: false });
    const vlmLoad = (async () =>
      VlmRunner.load(
        { vision: f.vlmVision, decoder: f.vlmDecoder, embeddings: f.vlmEmbeddings, tokenizer: f.tokenizer, tokenizerConfig: f.tokenizerConfig },
        pkg.vlm,
        // On TensorRT the VLM's engines keep the key/value cache on the device, sized by the build.
        trt ? { engines: await openPair(TrtEngine.load(trt.plan('vlm/vision'), 'vlm/vision'), TrtEngine.load(trt.plan('vlm/decoder'), 'vlm/decoder')), context: trt.context } : {},
      ))();
    // Each preset's own parts: the head over proposals and DINOv2, or LISA's decoder and text_hidden_fcs.
    const parts: Promise<unknown>[] = lisa
      ? [onnx(f.samPromptDecoder, 'sam/prompt-decoder'), (async () => TextProjection.load(f.head))()]
      : [
          onnx(f.samDecoder, 'sam/decoder'),
          onnx(f.dinoEncoder, 'dino/encoder', {
            bindings: { D: pkg.views.dino.size, T: pkg.head.globalGrid ** 2, C: pkg.head.featureDim },
            // Both encoders' activations are returned after each image (they run once per image, and
            // an arena would keep SAM-H's ~10 GB peak reserved beside everything else).
            memoryArena: false,
          }),
          Head.load(f.head, pkg.head, { device: gpuHead }),
        ];
    const results = await Promise.allSettled([encoder, vlmLoad, ...parts]);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
    const problems = failures.map((e) => e.message);
    // Out of memory is this machine's state, not the package's fault: the caller may free some and retry.
    const outOfMemory = failures.some((e) => e instanceof HrsegError && e.code === 'OUT_OF_MEMORY');
    const ok = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    const [samEncoder, vlm] = ok as [Engine?, VlmRunner?];
    const [a, b, head] = ok.slice(2) as [Engine | undefined, unknown, Head | undefined];
    const hidden = lisa ? (b as TextProjection | undefined)?.hiddenSize : pkg.head.hiddenSize;
    const projected = lisa ? (b as TextProjection | undefined)?.outSize : undefined;
    if (projected !== undefined && projected !== 256)
      problems.push(`${f.head}: text_hidden_fcs gives ${projected}-wide prompts, but LISA's SAM decoder takes 256-wide ones`);
    if (vlm && hidden !== undefined && vlm.hiddenSize !== hidden)
      problems.push(lisa ? `${f.head}: text_hidden_fcs takes ${hidden}-wide states, but the VLM's hidden size is ${vlm.hiddenSize}` : `hrseg.json /head/hiddenSize: ${pkg.head.hiddenSize}, but the VLM's hidden size is ${vlm.hiddenSize}`);
    if (problems.length > 0 || options.signal?.aborted) {
      await Promise.all([samEncoder?.dispose(), vlm?.dispose(), a?.dispose(), lisa ? undefined : (b as Engine | undefined)?.dispose()]);
      head?.dispose();
      if (options.signal?.aborted && problems.length === 0) throw abortError(options.signal);
      throw new HrsegError(outOfMemory ? 'OUT_OF_MEMORY' : 'MODEL_FILE', `model package ${pkg.dir} could not be loaded:\n  - ${problems.join('\n  - ')}`);
    }
    const method: Method = lisa
      ? { kind: 'lisa', lisa: new LisaHead(b as TextProjection, a!, pkg.views.sam.size) }
      : { kind: 'head', samDecoder: a!, dino: b as Engine, head: head! };
    return new Segmenter(pkg, device, picked.reason, samEncoder!, method, vlm!, options.maxPixels, options.proposalMaxSide);
  }

  /** The engines this segmenter runs, by component. */
  #engines(): Engine[] {
    const m = this.method;
    return [this.samEncoder, ...(m.kind === 'head' ? [m.samDecoder, m.dino] : [m.lisa.decoder])];
  }

  /** Where each backbone runs ('cuda' through ONNX Runtime's CUDA provider, or 'cpu'). */
  get backbones(): Record<string, { provider: 'cpu' | 'cuda' | 'tensorrt'; fallbackReason?: string }> {
    const out: Record<string, { provider: 'cpu' | 'cuda' | 'tensorrt'; fallbackReason?: string }> = {};
    for (const e of this.#engines()) {
      if (e instanceof TrtEngine) {
        out[e.component] = { provider: 'tensorrt' };
        continue;
      }
      const o = e as OnnxEngine;
      out[e.component] = { provider: o.provider, ...(o.fallbackReason ? { fallbackReason: o.fallbackReason } : {}) };
    }
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

  /** The head's image step; DINOv2 tokens left on the device are read there and then freed. */
  async #imageStep(head: Head, feats: Awaited<ReturnType<typeof dinoFeatures>>, masks: Tensor<'uint8'>, signal?: AbortSignal) {
    if (feats.deviceTokens === undefined)
      return head.imageStep({ globalFeatures: feats.global!, localFeatures: feats.local, proposals: masks }, { signal });
    try {
      return await head.imageStep({ deviceTokens: feats.deviceTokens, proposals: masks }, { signal });
    } finally {
      feats.release?.();
    }
  }

  /** The image-only stages, reusable for any number of instructions. */
  prepare(image: ImageInput, options: PrepareOptions = {}): Promise<PreparedImage> {
    return this.#enqueue(() => this.#prepare(image, options));
  }

  async #prepare(image: ImageInput, options: PrepareOptions): Promise<PreparedImage> {
    const { signal } = options;
    const maxSide = options.proposalMaxSide ?? this.proposalMaxSide;
    const timings: StageTimings = {};
    const time = async <T>(stage: string, p: () => Promise<T>) => {
      const t0 = performance.now();
      const r = await p();
      timings[stage] = performance.now() - t0;
      return r;
    };
    const img = await time('decode', () => loadImage(image, { maxPixels: this.maxPixels, signal }));
    if (this.method.kind === 'lisa') {
      if (options.proposalMaxSide !== undefined) throw noProposals();
      return this.#prepareLisa(img, timings, time, signal);
    }
    const m = this.method;
    const small = maxSide === undefined ? undefined : downscaledSize(img.width, img.height, maxSide);
    const samImage = small ? await time('downscale', async () => areaDownscale(img, small.width, small.height)) : img;
    const proposals = await time('proposals', () =>
      generateProposals(samImage, { encoder: this.samEncoder, decoder: m.samDecoder }, {
        config: this.model.proposals,
        device: this.device === 'cpu' ? 'cpu' : 'cuda',
        signal,
        onProgress: (d, t) => options.onProgress?.('proposals', d, t),
      }),
    );
    const h = this.model.head;
    // Without HRP no local view is made: one DINOv2 view instead of 1 + N² (timings.dino shows it).
    const feats = await time('dino', () =>
      dinoFeatures(img, m.dino, this.model.views.dino, h.globalGrid, h.magnification, signal, h.hrp, this.device === 'tensorrt'),
    );
    const features = await time('head-image', () =>
      this.#imageStep(m.head, feats, proposals.masks, signal),
    );
    let vlm: VlmContext;
    try {
      vlm = await time('vlm-prefix', () => this.vlm.prepare(img, { signal }));
    } catch (error) {
      m.head.releaseImage(features);  // a CUDA head's image state, freed now rather than when collected
      throw error;
    }
    const prepared: PreparedImage = {
      width: img.width,
      height: img.height,
      proposals,
      proposalSize: { width: samImage.width, height: samImage.height },
      dinoViews: feats.views,
      features,
      vlm,
      timings,
      release: () => {
        this.#released.add(prepared);
        vlm.release();
        m.head.releaseImage(features);
      },
      owner: this,
    };
    return prepared;
  }

  /** LISA's image stages (SPEC 11.1 steps 1-2): SAM's encoder on its view, and the VLM's prefix. */
  async #prepareLisa(img: RgbImage, timings: StageTimings, time: <T>(stage: string, p: () => Promise<T>) => Promise<T>, signal?: AbortSignal): Promise<PreparedImage> {
    const samEmbedding = await time('sam', async () => {
      const view = await squareView(img, this.model.views.sam, { signal });
      const out = await this.samEncoder.run({ image: view.tensor }, { signal });
      try {
        return (await out.image_embeddings.host()) as Tensor<'float32'>;
      } finally {
        for (const v of Object.values(out)) v.release?.();
      }
    });
    const vlm = await time('vlm-prefix', () => this.vlm.prepare(img, { signal }));
    const prepared: PreparedImage = {
      width: img.width,
      height: img.height,
      proposals: emptyProposals(img.width, img.height),
      proposalSize: { width: img.width, height: img.height },
      dinoViews: 0,
      samEmbedding,
      vlm,
      timings,
      release: () => {
        this.#released.add(prepared);
        vlm.release();
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
    const events: SegmentEvent[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const done = this.#enqueue(async () => {
      for await (const e of this.#run(image, instruction, options)) {
        events.push(e);
        wake?.();
      }
    }).then(
      () => {
        finished = true;
        wake?.();
      },
      (e: unknown) => {
        failure = e;
        finished = true;
        wake?.();
      },
    );
    void done;
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (events.length > 0) {
            yield events.shift()!;
            continue;
          }
          if (finished) {
            if (failure !== undefined) throw failure;
            return;
          }
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      },
    };
  }

  async *#run(input: ImageInput | PreparedImage, instruction: string, options: SegmentOptions): AsyncGenerator<SegmentEvent> {
    if (typeof instruction !== 'string' || instruction.trim() === '')
      throw new HrsegError('INVALID_ARGUMENT', 'the instruction is empty');
    const { signal } = options;
    const t0 = performance.now();
    const isPrepared = typeof input === 'object' && input !== null && 'owner' in input && 'vlm' in input;
    if (isPrepared && (input as PreparedImage).owner !== this)
      throw new HrsegError('INVALID_ARGUMENT', 'this PreparedImage was made by another segmenter');
    if (isPrepared && this.#released.has(input as PreparedImage))
      throw new HrsegError('INVALID_ARGUMENT', 'this PreparedImage has been released: prepare the image again');
    const prepared = isPrepared
      ? (input as PreparedImage)
      : await this.#prepare(input as ImageInput, { signal, onProgress: options.onProgress, proposalMaxSide: options.proposalMaxSide });
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
    const { signal } = options;

    const tReason = performance.now();
    const stream = this.vlm.stream(prepared.vlm, instruction, {
      form: options.form ?? this.model.vlm.queryForm,
      mode: options.mode ?? this.model.vlm.mode,
      maxNewTokens: options.maxNewTokens,
      signal,
    });
    let answer;
    for (;;) {
      const n = await stream.next();
      if (n.done) {
        answer = n.value;
        break;
      }
      yield { type: 'token', id: n.value.id, text: n.value.text };
    }
    const tSelect = performance.now();
    const { width: W, height: H } = prepared;
    // The head's masks are at the proposals' size; nearest-resized to the image when SAM saw a
    // shrunk copy (the union of the chosen proposals resized back equals the resized union).
    const { width: w, height: h } = prepared.proposalSize;
    const rescaled = w !== W || h !== H;
    const segments: SegmentPart[] = [];
    const mask = new Uint8Array(W * H);
    const lowMask = rescaled ? new Uint8Array(w * h) : undefined;
    if (answer.seg.dims[0] > 0 && this.method.kind === 'lisa') {
      // LISA: one mask per [SEG] from its decoder, at the image's size already.
      const r = await this.method.lisa.masks(prepared.samEmbedding!, answer.seg as Tensor<'float32'>, { width: W, height: H }, signal);
      const S = answer.seg.dims[0], none = new Float32Array(0);
      for (let s = 0; s < S; s++) {
        const at = [s * W * H, (s + 1) * W * H] as const;
        const part: SegmentPart = { mask: r.masks.data.subarray(...at), logits: r.logits.data.subarray(...at), chosen: [], fallback: false, similarity: none, iop: none };
        for (let i = 0; i < mask.length; i++) mask[i] |= part.mask[i];
        segments.push(part);
        yield { type: 'scores', segment: s, similarity: none, iop: none, chosen: [], fallback: false };
      }
    } else if (answer.seg.dims[0] > 0 && this.method.kind === 'head') {
      const r = await this.method.head.instructionStep(prepared.features!, answer.seg as Tensor<'float32'>, { signal, selection: options.selection });
      const K = prepared.proposals.masks.dims[0];
      const S = answer.seg.dims[0];
      const full = rescaled ? resizeNearest(r.masks.data, S, h, w, H, W) : r.masks.data;
      for (let s = 0; s < S; s++) {
        const part: SegmentPart = {
          mask: full.subarray(s * W * H, (s + 1) * W * H),
          chosen: r.selections[s].chosen,
          fallback: r.selections[s].fallback,
          similarity: r.similarity.data.subarray(s * K, (s + 1) * K),
          iop: r.iop.data.subarray(s * K, (s + 1) * K),
        };
        for (let i = 0; i < mask.length; i++) mask[i] |= part.mask[i];
        if (lowMask) for (let i = 0, o = s * w * h; i < lowMask.length; i++) lowMask[i] |= r.masks.data[o + i];
        segments.push(part);
        yield { type: 'scores', segment: s, similarity: part.similarity, iop: part.iop, chosen: part.chosen, fallback: part.fallback };
      }
    }
    const tEnd = performance.now();
    const chosen = [...new Set(segments.flatMap((s) => s.chosen))].sort((a, b) => a - b);
    const timings: StageTimings = {
      ...(isPrepared ? {} : prepared.timings),
      reasoning: tSelect - tReason,
      // The head's selection, or for lisa its decoder and postprocess.
      [this.method.kind === 'lisa' ? 'masks' : 'selection']: tEnd - tSelect,
      total: tEnd - t0,
    };
    yield {
      type: 'result',
      result: {
        width: W,
        height: H,
        mask,
        answer: answer.text,
        segments,
        chosen,
        proposals: prepared.proposals,
        timings,
        ...(lowMask ? { lowRes: { mask: lowMask, width: w, height: h } } : {}),
      },
    };
  }

  /** Releases the models once running calls have finished. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    const pending = this.#queue;
    this.#disposed = true;
    await pending;
    await Promise.all([...this.#engines().map((e) => e.dispose()), this.vlm.dispose()]);
    if (this.method.kind === 'head') this.method.head.dispose();
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
