/**
 * SAM's automatic mask generator: the prompt grid, decoder calls in batches, and the native
 * post-processing (native/core/src/mask_generator.cc) that turns each batch's low-resolution
 * logits into candidates and, at the end, into K proposals at the original resolution.
 */
import { abortError, runCancellable } from '../abort.js';
import { HrsegError, callNative } from '../errors.js';
import type { RgbImage } from '../image.js';
import { native, type NativeCancelHandle } from '../native.js';
import { tensor, type Tensor } from '../tensor.js';
import { SAM_VIEW, squareView } from '../views.js';
import type { Engine } from '../engines/types.js';
import { resolveMaskGeneratorConfig, type MaskGeneratorConfig } from './config.js';
import { pointGrid, toFrame } from './point-grid.js';

export interface MaskGeometry {
  /** Side of the decoder's low-resolution logits (256). */
  low: number;
  /** Side of SAM's padded input frame (1024). */
  frame: number;
  height: number;
  width: number;
}

export interface Proposals {
  /** K masks at the original resolution, 0/1, [K, H, W]. */
  masks: Tensor<'uint8'>;
  /** [K, 4]: x0, y0, x1, y1 with x1, y1 the last covered pixel (SAM's convention). */
  boxes: Tensor<'float32'>;
  iou: Tensor<'float32'>;
  stability: Tensor<'float32'>;
  areas: Tensor<'int32'>;
  /** [K, 2] the prompt (x, y in original pixels) that produced each mask. */
  points: Tensor<'float32'>;
  /** Candidate index of each proposal: prompt index × masks per prompt + mask index. */
  source: Tensor<'int32'>;
  /** How many masks each stage let through. */
  counts: { evaluated: number; passedIou: number; passedStability: number; afterNms: number };
  /**
   * Where the time went, in ms (set by generateProposals): SAM's image encoder, its decoder over
   * every prompt, and the post-processing (stability, boxes, NMS, the kept masks).
   */
  timings?: { encoder: number; decoder: number; postProcessing: number };
}

/** No proposals (the lisa preset's): every tensor with K = 0, masks [0, height, width]. */
export function emptyProposals(width: number, height: number): Proposals {
  return {
    masks: tensor('uint8', [0, height, width], new Uint8Array(0)),
    boxes: tensor('float32', [0, 4], new Float32Array(0)),
    iou: tensor('float32', [0], new Float32Array(0)),
    stability: tensor('float32', [0], new Float32Array(0)),
    areas: tensor('int32', [0], new Int32Array(0)),
    points: tensor('float32', [0, 2], new Float32Array(0)),
    source: tensor('int32', [0], new Int32Array(0)),
    counts: { evaluated: 0, passedIou: 0, passedStability: 0, afterNms: 0 },
  };
}

interface NativeMaskGeneratorApi {
  createMaskGenerator(config: MaskGeneratorConfig, geometry: MaskGeometry, device: 'cpu' | 'cuda'): unknown;
  maskGeneratorAddBatch(
    h: unknown,
    logits: Tensor | { dtype: string; dims: readonly number[]; device: unknown },
    iou: Tensor,
    points: Tensor,
    cancel: NativeCancelHandle,
  ): Promise<void>;
  maskGeneratorFinish(h: unknown, cancel: NativeCancelHandle): Promise<Proposals>;
}

const api = () => native() as unknown as NativeMaskGeneratorApi;

/**
 * The post-processing on its own: feed decoder batches, then finish. Batches are queued, so calls
 * need not be awaited one by one; the result does not depend on the batch size.
 */
export class MaskPostProcessor {
  private readonly handle: unknown;
  private queue: Promise<unknown> = Promise.resolve();

  /** `device: 'cuda'` runs the pixel work on the GPU (each batch's logits are copied there once). */
  constructor(
    config: Partial<MaskGeneratorConfig>,
    readonly geometry: MaskGeometry,
    options: { device?: 'cpu' | 'cuda' } = {},
  ) {
    const c = resolveMaskGeneratorConfig(config);
    for (const k of ['low', 'frame', 'height', 'width'] as const)
      if (!Number.isInteger(geometry[k]) || geometry[k] < 1)
        throw new HrsegError('INVALID_ARGUMENT', `mask geometry: ${k} must be a positive integer, got ${geometry[k]}`);
    this.handle = callNative(() => api().createMaskGenerator(c, geometry, options.device ?? 'cpu'));
  }

  /**
   * logits [B, M, low, low], iou [B, M], points [B, 2] in original pixels. Inputs are borrowed until
   * it settles. With `device: 'cuda'` the logits may also be a TensorRT decoder's native device
   * tensor (EngineValue.deviceTensor), read in place on the GPU.
   */
  addBatch(
    logits: Tensor<'float32'> | { dtype: string; dims: readonly number[]; device: unknown },
    iou: Tensor<'float32'>,
    points: Tensor<'float32'>,
    signal?: AbortSignal,
  ): Promise<void> {
    const run = this.queue.then(() => runCancellable(signal, (c) => api().maskGeneratorAddBatch(this.handle, logits, iou, points, c)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  finish(signal?: AbortSignal): Promise<Proposals> {
    const run = this.queue.then(() => runCancellable(signal, (c) => api().maskGeneratorFinish(this.handle, c)));
    this.queue = run.catch(() => undefined);
    return run;
  }
}

export interface ProposalOptions {
  config?: Partial<MaskGeneratorConfig>;
  /** Where the post-processing runs (the engines choose their own device). */
  device?: 'cpu' | 'cuda';
  signal?: AbortSignal;
  /** Called after each decoder batch with prompts done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** SAM's automatic mask generator over an image with the package's encoder and decoder engines. */
export async function generateProposals(image: RgbImage, engines: { encoder: Engine; decoder: Engine }, options: ProposalOptions = {}): Promise<Proposals> {
  const config = resolveMaskGeneratorConfig(options.config);
  const { signal } = options;
  const view = await squareView(image, SAM_VIEW, { signal });
  const t0 = performance.now();
  const encoded = await engines.encoder.run({ image: view.tensor }, { signal });
  const timings = { encoder: performance.now() - t0, decoder: 0, postProcessing: 0 };
  const embeddings = encoded.image_embeddings;
  if (!embeddings) throw new HrsegError('MODEL_FILE', `${engines.encoder.file}: no output 'image_embeddings'`);

  const { width, height } = image;
  const grid = pointGrid(config.pointsPerSide, width, height);
  const frame = toFrame(grid, width, height, view.contentWidth, view.contentHeight);
  const total = grid.length / 2;
  let post: MaskPostProcessor | undefined;
  // pointsPerBatch, or less where the engine runs smaller batches faster (the result does not
  // depend on the batch).
  const step = Math.min(config.pointsPerBatch, engines.decoder.preferredBatch ?? Infinity);
  for (let start = 0; start < total; start += step) {
    if (signal?.aborted) throw abortError(signal);
    const b = Math.min(step, total - start);
    const tDecoder = performance.now();
    const out = await engines.decoder.run(
      {
        image_embeddings: embeddings,
        point_coords: tensor('float32', [b, 1, 2], frame.subarray(start * 2, (start + b) * 2)),
        point_labels: tensor('float32', [b, 1], new Float32Array(b).fill(1)),
      },
      { signal },
    );
    // On the GPU a TensorRT decoder's logits stay where they are; otherwise they come to the host.
    const onDevice = options.device === 'cuda' && out.low_res_masks.deviceTensor !== undefined;
    const logits = onDevice
      ? (out.low_res_masks.deviceTensor as { dtype: string; dims: readonly number[]; device: unknown })
      : ((await out.low_res_masks.host()) as Tensor<'float32'>);
    const iou = (await out.iou_predictions.host()) as Tensor<'float32'>;
    const tPost = performance.now();
    timings.decoder += tPost - tDecoder;
    post ??= new MaskPostProcessor(config, { low: out.low_res_masks.dims[2], frame: SAM_VIEW.size, height, width }, { device: options.device });
    try {
      await post.addBatch(logits, iou, tensor('float32', [b, 2], grid.subarray(start * 2, (start + b) * 2)), signal);
    } finally {
      // A batch's device outputs are done with: free them now, not when the collector gets to them.
      for (const v of Object.values(out)) v.release?.();
    }
    timings.postProcessing += performance.now() - tPost;
    options.onProgress?.(start + b, total);
  }
  if (!post) throw new HrsegError('INTERNAL', 'no prompts');
  encoded.image_embeddings?.release?.();
  const tFinish = performance.now();
  const proposals = await post.finish(signal);
  timings.postProcessing += performance.now() - tFinish;
  return Object.assign(proposals, { timings });
}
