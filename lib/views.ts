/**
 * The views of SPEC.md section 2, cut in native code from an 8-bit RGB image: SAM's view, DINOv2's
 * global and local views, and the CLIP view. Square views resize the longest side to the view
 * size, normalise, and pad bottom and right with zeros; features, masks and proposals all live in
 * that padded frame.
 */
import { runCancellable } from './abort.js';
import { HrsegError } from './errors.js';
import type { RgbImage } from './image.js';
import { native, type NativeCancelHandle } from './native.js';
import { tensor, type Tensor } from './tensor.js';

export interface ViewNormalization {
  /** Per-channel mean and standard deviation on the 0–255 scale: (x − mean) / std. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export interface SquareViewSpec extends ViewNormalization {
  /** Side of the square (1024 for SAM, 518 for DINOv2). */
  size: number;
  /**
   * Resize exactly as Pillow's 8-bit Image.resize does (fixed-point taps, rounded to 8 bits after
   * each pass), as LISA's code feeds its SAM and CLIP (torchvision / Hugging Face resize PIL
   * images). Default false: the resize in float from the 8-bit samples (up to one grey level off
   * Pillow's). Square and centre-crop views.
   */
  roundTo8Bits?: boolean;
}

const IMAGENET: ViewNormalization = {
  mean: [0.485 * 255, 0.456 * 255, 0.406 * 255],
  std: [0.229 * 255, 0.224 * 255, 0.225 * 255],
};

export const SAM_VIEW: Readonly<SquareViewSpec> = Object.freeze({
  size: 1024,
  mean: [123.675, 116.28, 103.53] as const,
  std: [58.395, 57.12, 57.375] as const,
});

export const DINO_VIEW: Readonly<SquareViewSpec> = Object.freeze({ size: 518, ...IMAGENET });

export const CLIP_VIEW: Readonly<SquareViewSpec> = Object.freeze({
  size: 224,
  mean: [0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255] as const,
  std: [0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255] as const,
});

export interface ViewResult {
  /** [1, 3, S, S] for square and centre-crop views, [N², 3, S, S] for the local view. */
  tensor: Tensor<'float32'>;
  /** For square views: the resized image's extent inside the padded square (the rest is padding). */
  contentHeight: number;
  contentWidth: number;
}

interface NativeViewApi {
  makeView(
    image: Tensor,
    spec: { kind: string; size: number; magnification?: number; mean: readonly number[]; std: readonly number[]; filter: string },
    cancel: NativeCancelHandle,
  ): Promise<ViewResult>;
}

const api = () => native() as unknown as NativeViewApi;

function imageTensor(image: RgbImage): Tensor<'uint8'> {
  if (image.data.length !== image.width * image.height * 3)
    throw new HrsegError('INVALID_IMAGE', `RGB image: ${image.data.length} bytes for ${image.width}×${image.height}×3`);
  return tensor('uint8', [image.height, image.width, 3], image.data);
}

function checkSpec(spec: SquareViewSpec): void {
  if (!Number.isInteger(spec.size) || spec.size < 1 || spec.size > 16384)
    throw new HrsegError('INVALID_ARGUMENT', `view size must be an integer in [1, 16384], got ${spec.size}`);
}

type Filter = 'bilinear' | 'bicubic';

async function view(
  image: RgbImage,
  kind: 'square' | 'tiled' | 'center-crop',
  spec: SquareViewSpec,
  filter: Filter,
  magnification: number | undefined,
  signal: AbortSignal | undefined,
): Promise<ViewResult> {
  checkSpec(spec);
  const t = imageTensor(image);
  const native = { kind, size: spec.size, magnification, mean: [...spec.mean], std: [...spec.std], filter, roundTo8Bits: spec.roundTo8Bits === true };
  return runCancellable(signal, (cancel) => api().makeView(t, native, cancel));
}

/** Longest side to `spec.size` (Pillow-style antialiased bilinear), normalised, zero-padded: [1, 3, S, S]. */
export async function squareView(image: RgbImage, spec: SquareViewSpec, options: { signal?: AbortSignal } = {}): Promise<ViewResult> {
  return view(image, 'square', spec, 'bilinear', undefined, options.signal);
}

/** The square view at N·size cut into N² crops in raster order: [N², 3, S, S] (DINOv2's local view). */
export async function tiledView(image: RgbImage, spec: SquareViewSpec, magnification: number, options: { signal?: AbortSignal } = {}): Promise<ViewResult> {
  if (!Number.isInteger(magnification) || magnification < 1 || magnification > 8)
    throw new HrsegError('INVALID_ARGUMENT', `magnification must be an integer in [1, 8], got ${magnification}`);
  return view(image, 'tiled', spec, 'bilinear', magnification, options.signal);
}

/** Shortest side to `spec.size` (Pillow-style bicubic), then the centred square crop: [1, 3, S, S] (CLIP). */
export async function centerCropView(image: RgbImage, spec: SquareViewSpec, options: { signal?: AbortSignal } = {}): Promise<ViewResult> {
  return view(image, 'center-crop', spec, 'bicubic', undefined, options.signal);
}
