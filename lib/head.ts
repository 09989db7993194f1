/**
 * The HRSeg head (SPEC.md sections 4, 5, 7, 8) on the CPU: load it once, run the image step once
 * per image (HRP + HRE; its result is reused for every instruction about that image), then the
 * instruction step per [SEG] embedding (text projection, fusion, heads, selection, final mask).
 */
import { runCancellable } from './abort.js';
import { HrsegError, callNative } from './errors.js';
import { native } from './native.js';
import type { Tensor } from './tensor.js';

export type SelectionStrategy = 'top1-sim' | 'top1-iop' | 'iop-threshold' | 'topk-sim' | 'topk-sim-iop';

export type SelectionFallback = 'top1-sim' | 'none';

export interface SelectionConfig {
  strategy: SelectionStrategy;
  /** k of the top-k strategies (default 10). */
  k: number;
  /** τ of the IoP threshold (default 0.7); comparisons are strict, S_iop > τ. */
  tau: number;
  /**
   * When the rule chooses nothing: 'top1-sim' (default) takes the most similar proposal and marks
   * the selection `fallback: true`; 'none' (LLM-Seg's evaluation) leaves it empty, so the mask is empty.
   */
  fallback: SelectionFallback;
}

export type MaskResize = 'bilinear-antialias' | 'area';

export interface HeadConfig {
  /** C, DINOv2's feature width (1024 for ViT-L/14). */
  featureDim: number;
  /** d, the width after the input projection (256). */
  dim: number;
  /** n_g, the global view's patch grid (37 for 518² at patch 14). */
  globalGrid: number;
  /** N, the magnification of the local view (2). */
  magnification: number;
  /**
   * HRP's region attention and γ-mix (default true). false is LLM-Seg's head: F_h = X_g, no local
   * DINOv2 view is computed or read, and no region-attention weights are needed.
   */
  hrp: boolean;
  /** γ of the hybrid features F_h = γ·X_g + (1−γ)·F_r (0.8). */
  gamma: number;
  /** Which features mask pooling reads: the hybrid F_h (default) or the region F_r. */
  poolSource: 'hybrid' | 'region';
  /** P, the side of the pooling grid (256). */
  poolSize: number;
  /** The fast pulled-back form (default) or the definition (upsample, then pool); equal to rounding. */
  maskPooling: 'pulled-back' | 'direct';
  /**
   * How each proposal (padded to its square) is resized to P×P for pooling: PyTorch's antialiased
   * bilinear as LLM-Seg's code does it (default), or PyTorch's area (adaptive average) resize.
   */
  maskResize: MaskResize;
  /** L, HRE layers (2), and their heads (1). */
  hreLayers: number;
  hreHeads: number;
  /** H, the language model's hidden size (4096 for 7B). */
  hiddenSize: number;
  fusionBlocks: number;
  fusionHeads: number;
  fusionMlpDim: number;
  iopHidden: number;
  embedHidden: number;
  selection: SelectionConfig;
}

export const DEFAULT_HEAD_CONFIG: Readonly<HeadConfig> = Object.freeze({
  featureDim: 1024,
  dim: 256,
  globalGrid: 37,
  magnification: 2,
  hrp: true,
  gamma: 0.8,
  poolSource: 'hybrid',
  poolSize: 256,
  maskPooling: 'pulled-back',
  maskResize: 'bilinear-antialias',
  hreLayers: 2,
  hreHeads: 1,
  hiddenSize: 4096,
  fusionBlocks: 2,
  fusionHeads: 8,
  fusionMlpDim: 2048,
  iopHidden: 128,
  embedHidden: 2048,
  selection: Object.freeze({ strategy: 'topk-sim-iop', k: 10, tau: 0.7, fallback: 'top1-sim' }) as SelectionConfig,
});

const STRATEGIES: readonly SelectionStrategy[] = ['top1-sim', 'top1-iop', 'iop-threshold', 'topk-sim', 'topk-sim-iop'];

export type HeadConfigInput = Partial<Omit<HeadConfig, 'selection'>> & { selection?: Partial<SelectionConfig> };

function checkSelection(s: SelectionConfig, where: string): void {
  if (!STRATEGIES.includes(s.strategy)) throw new HrsegError('INVALID_ARGUMENT', `${where}.strategy must be one of ${STRATEGIES.join(', ')}`);
  if (!Number.isInteger(s.k) || s.k < 1) throw new HrsegError('INVALID_ARGUMENT', `${where}.k must be an integer >= 1`);
  if (!(s.tau >= 0 && s.tau <= 1)) throw new HrsegError('INVALID_ARGUMENT', `${where}.tau must be in [0, 1]`);
  if (s.fallback !== 'top1-sim' && s.fallback !== 'none') throw new HrsegError('INVALID_ARGUMENT', `${where}.fallback must be "top1-sim" or "none"`);
}

/** Fills defaults from SPEC.md and checks every value; errors name the field. */
export function resolveHeadConfig(input: HeadConfigInput = {}): HeadConfig {
  const c: HeadConfig = {
    ...DEFAULT_HEAD_CONFIG,
    ...input,
    selection: { ...DEFAULT_HEAD_CONFIG.selection, ...input.selection },
  } as HeadConfig;
  const positive = [
    'featureDim',
    'dim',
    'globalGrid',
    'magnification',
    'poolSize',
    'hreHeads',
    'hiddenSize',
    'fusionHeads',
    'fusionMlpDim',
    'iopHidden',
    'embedHidden',
  ] as const;
  for (const key of positive)
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new HrsegError('INVALID_ARGUMENT', `head config: ${key} must be a positive integer, got ${c[key]}`);
  for (const key of ['hreLayers', 'fusionBlocks'] as const)
    if (!Number.isInteger(c[key]) || c[key] < 0) throw new HrsegError('INVALID_ARGUMENT', `head config: ${key} must be a non-negative integer, got ${c[key]}`);
  if (!(c.gamma >= 0 && c.gamma <= 1)) throw new HrsegError('INVALID_ARGUMENT', `head config: gamma must be in [0, 1], got ${c.gamma}`);
  if (c.poolSource !== 'hybrid' && c.poolSource !== 'region') throw new HrsegError('INVALID_ARGUMENT', `head config: poolSource must be "hybrid" or "region"`);
  if (c.maskPooling !== 'pulled-back' && c.maskPooling !== 'direct')
    throw new HrsegError('INVALID_ARGUMENT', `head config: maskPooling must be "pulled-back" or "direct"`);
  if (c.maskResize !== 'bilinear-antialias' && c.maskResize !== 'area')
    throw new HrsegError('INVALID_ARGUMENT', `head config: maskResize must be "bilinear-antialias" or "area"`);
  if (typeof c.hrp !== 'boolean') throw new HrsegError('INVALID_ARGUMENT', `head config: hrp must be true or false`);
  if (!c.hrp && c.poolSource === 'region') throw new HrsegError('INVALID_ARGUMENT', `head config: poolSource "region" needs HRP (hrp: true)`);
  checkSelection(c.selection, 'head config: selection');
  return c;
}

/** The image step's result: reusable for every instruction about the same image. */
export interface ImageFeatures {
  /** F_r, region-attention features [n_g², d]; [0, d] when HRP is off. */
  region: Tensor<'float32'>;
  /** F_h, hybrid features [n_g², d]. */
  hybrid: Tensor<'float32'>;
  /** M_HRP, pooled mask features [K, d]. */
  mHrp: Tensor<'float32'>;
  /** M_HRE, enhanced mask features [K, d]: what the instruction step reads. */
  mHre: Tensor<'float32'>;
  /** The proposals [K, H, W] this was computed for (borrowed, not copied). */
  proposals: Tensor<'uint8'>;
  /** A CUDA head's device-resident state (M_HRE, proposals) for its instruction steps; opaque. */
  deviceImage?: unknown;
}

export interface SegSelection {
  /** Chosen proposal indices, ascending. Empty when there are no proposals, or when the rule chose none and the fallback is 'none'. */
  chosen: number[];
  /** True when the strategy chose nothing and top1-sim was used instead (never with fallback 'none'). */
  fallback: boolean;
}

export interface InstructionResult {
  /** t, the projected [SEG] embeddings [S, d]. */
  text: Tensor<'float32'>;
  /** e_k per [SEG] [S, K, d]. */
  embeddings: Tensor<'float32'>;
  /** S_sim and S_iop per [SEG] [S, K]. */
  similarity: Tensor<'float32'>;
  iop: Tensor<'float32'>;
  /** The union of chosen proposals per [SEG] [S, H, W], 0/1. */
  masks: Tensor<'uint8'>;
  selections: SegSelection[];
}

interface NativeHeadApi {
  loadHead(source: string | Uint8Array, config: HeadConfig, cancel: unknown, device: 'cpu' | 'cuda'): Promise<unknown>;
  headDispose(handle: unknown): void;
  headReleaseImage(deviceImage: unknown): void;
  headImageStep(h: unknown, fg: Tensor, fl: Tensor | undefined, masks: Tensor, cancel: unknown): Promise<Omit<ImageFeatures, 'proposals'>>;
  headImageStepDevice(h: unknown, tokens: unknown, masks: Tensor, cancel: unknown): Promise<Omit<ImageFeatures, 'proposals'>>;
  headInstructionStep(
    h: unknown,
    mHre: Tensor,
    hSeg: Tensor,
    masks: Tensor,
    sel: SelectionConfig | undefined,
    cancel: unknown,
    deviceImage: unknown,
  ): Promise<InstructionResult>;
}

const api = () => native() as unknown as NativeHeadApi;

export interface HeadOptions {
  signal?: AbortSignal;
}

export interface HeadLoadOptions extends HeadOptions {
  /** 'cpu' (default) or 'cuda' (every operation on the GPU; DEVICE_UNAVAILABLE with the reason when there is none). */
  device?: 'cpu' | 'cuda';
}

export class Head {
  readonly config: HeadConfig;
  readonly device: 'cpu' | 'cuda';
  #handle: unknown;
  // The device states of this head's images still alive (weakly: an image dropped without
  // releaseImage is still freed by the collector), released at dispose.
  #images = new Set<WeakRef<object>>();
  #forget = new FinalizationRegistry<WeakRef<object>>((ref) => this.#images.delete(ref));

  private constructor(handle: unknown, config: HeadConfig, device: 'cpu' | 'cuda') {
    this.#handle = handle;
    this.config = config;
    this.device = device;
  }

  /**
   * Loads head.safetensors from a path (memory-mapped) or a Buffer (borrowed, not copied; keep it
   * unchanged while the head lives). Every tensor is checked against the config.
   */
  static async load(weights: string | Uint8Array, config: HeadConfigInput = {}, options: HeadLoadOptions = {}): Promise<Head> {
    const resolved = resolveHeadConfig(config);
    if (typeof weights !== 'string' && !(weights instanceof Uint8Array))
      throw new HrsegError('INVALID_ARGUMENT', 'weights must be a file path or a Uint8Array');
    const device = options.device ?? 'cpu';
    if (device !== 'cpu' && device !== 'cuda') throw new HrsegError('INVALID_ARGUMENT', `head device must be 'cpu' or 'cuda'`);
    const handle = await runCancellable(options.signal, (h) => api().loadHead(weights, resolved, h, device));
    return new Head(handle, resolved, device);
  }

  #live(): unknown {
    if (this.#handle === undefined) throw new HrsegError('INVALID_ARGUMENT', 'this head has been disposed');
    return this.#handle;
  }

  /**
   * HRP + HRE: global features [n_g², C], local features [(N·n_g)², C] (not needed, and not read,
   * when `hrp` is false), proposals [K, H, W] uint8.
   */
  async imageStep(
    input:
      | { globalFeatures: Tensor<'float32'>; localFeatures?: Tensor<'float32'>; proposals: Tensor<'uint8'> }
      | { deviceTokens: unknown; proposals: Tensor<'uint8'> },
    options: HeadOptions = {},
  ): Promise<ImageFeatures> {
    const handle = this.#live();
    if ('deviceTokens' in input) {
      // DINOv2's tokens left on the GPU by a TensorRT engine ([views, n_g², C]): the GPU head reads
      // them in place and stitches the crops there.
      const out = await runCancellable(options.signal, (h) => api().headImageStepDevice(handle, input.deviceTokens, input.proposals, h));
      return this.#track({ ...out, proposals: input.proposals });
    }
    if (this.config.hrp && !input.localFeatures) throw new HrsegError('INVALID_ARGUMENT', 'localFeatures: required when the head runs HRP (hrp: true)');
    const out = await runCancellable(options.signal, (h) => api().headImageStep(handle, input.globalFeatures, input.localFeatures, input.proposals, h));
    return this.#track({ ...out, proposals: input.proposals });
  }

  /** Text projection, fusion, heads, selection and the final masks, from h_seg [S, H] (or [H]). */
  async instructionStep(
    image: ImageFeatures,
    hSeg: Tensor<'float32'>,
    options: HeadOptions & { selection?: Partial<SelectionConfig> } = {},
  ): Promise<InstructionResult> {
    const handle = this.#live();
    const seg = hSeg.dims.length === 1 ? { ...hSeg, dims: [1, hSeg.dims[0]] } : hSeg;
    let selection: SelectionConfig | undefined;
    if (options.selection) {
      selection = { ...this.config.selection, ...options.selection };
      checkSelection(selection, 'selection');
    }
    return runCancellable(options.signal, (h) => api().headInstructionStep(handle, image.mHre, seg, image.proposals, selection, h, image.deviceImage));
  }

  #track(image: ImageFeatures): ImageFeatures {
    const state = image.deviceImage;
    if (typeof state === 'object' && state !== null) {
      const ref = new WeakRef(state);
      this.#images.add(ref);
      this.#forget.register(state, ref, ref);
    }
    return image;
  }

  /**
   * Frees what an image step left on the device (a CUDA head's M_HRE and proposals) now rather
   * than when the image is collected; an instruction step on it afterwards is INVALID_ARGUMENT. A
   * CPU head's images hold nothing there: a no-op.
   */
  releaseImage(image: ImageFeatures): void {
    const state = image.deviceImage;
    if (typeof state !== 'object' || state === null) return;
    callNative(() => api().headReleaseImage(state));
    for (const ref of this.#images)
      if (ref.deref() === state) {
        this.#images.delete(ref);
        this.#forget.unregister(ref);
      }
  }

  /** Releases the weights and every image's device state now (running operations finish first); later calls throw. */
  dispose(): void {
    for (const ref of this.#images) {
      const state = ref.deref();
      if (state !== undefined) callNative(() => api().headReleaseImage(state));
    }
    this.#images.clear();
    if (this.#handle !== undefined) callNative(() => api().headDispose(this.#handle));
    this.#handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
