/**
 * Image input. Everything a user may hand us (a path, an encoded Buffer of any format sharp reads,
 * or raw pixels) becomes one thing: 8-bit RGB, row-major, EXIF orientation applied, alpha
 * composited over a background, first frame of an animation. The views of SPEC.md section 2 are cut
 * from this in native code (lib/views.ts).
 */
import { stat } from 'node:fs/promises';

import sharp, { type Sharp } from 'sharp';

import { abortError } from './abort.js';
import { HrsegError } from './errors.js';

/** Raw pixels: `channels` interleaved 8-bit samples per pixel, rows top to bottom. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB (the default), 4 RGBA. */
  channels?: 1 | 2 | 3 | 4;
}

export type ImageInput = string | Uint8Array | RawImage;

/** An 8-bit RGB image, `width × height × 3` bytes. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface ImageOptions {
  /**
   * Largest accepted `width × height`. Checked from the header before any pixel is decoded, so a
   * decompression bomb costs nothing. Default 2^28 (≈ 268 megapixels, sharp's own default).
   */
  maxPixels?: number;
  /** Colour that transparent pixels are composited over (default white). */
  background?: { r: number; g: number; b: number };
  signal?: AbortSignal;
}

export const DEFAULT_MAX_PIXELS = 2 ** 28;

function isRaw(input: ImageInput): input is RawImage {
  return typeof input === 'object' && input !== null && !(input instanceof Uint8Array) && 'data' in input;
}

function checkLimit(width: number, height: number, maxPixels: number, what: string): void {
  if (width * height > maxPixels)
    throw new HrsegError('IMAGE_TOO_LARGE', `${what} is ${width}×${height} = ${width * height} pixels, over the limit of ${maxPixels} (option maxPixels)`);
}

function checkRaw(raw: RawImage, maxPixels: number): void {
  const { width, height, data } = raw;
  const channels = raw.channels ?? 3;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new HrsegError('INVALID_IMAGE', `raw image: width and height must be positive integers (got ${width}×${height})`);
  if (![1, 2, 3, 4].includes(channels)) throw new HrsegError('INVALID_IMAGE', `raw image: channels must be 1, 2, 3 or 4 (got ${String(channels)})`);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    throw new HrsegError('INVALID_IMAGE', 'raw image: data must be a Uint8Array or Uint8ClampedArray');
  checkLimit(width, height, maxPixels, 'raw image');
  if (data.length !== width * height * channels)
    throw new HrsegError('INVALID_IMAGE', `raw image: data has ${data.length} bytes, expected width × height × channels = ${width * height * channels}`);
}

/** Maps sharp's (untyped) failures onto our codes, keeping sharp's words in the message. */
function sharpError(error: unknown, what: string): HrsegError {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) return new HrsegError('IMAGE_TOO_LARGE', `${what}: ${message} (option maxPixels)`, { cause: error });
  return new HrsegError('INVALID_IMAGE', `${what} could not be decoded: ${message}`, { cause: error });
}

/** Decodes any accepted input into 8-bit RGB. */
export async function loadImage(input: ImageInput, options: ImageOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels >= 1)) throw new HrsegError('INVALID_ARGUMENT', 'maxPixels must be a positive number');
  const signal = options.signal;
  if (signal?.aborted) throw abortError(signal);

  let source: Sharp;
  let what: string;
  if (typeof input === 'string') {
    what = `image file ${input}`;
    const info = await stat(input).catch(() => undefined);
    if (!info) throw new HrsegError('IMAGE_NOT_FOUND', `image file not found: ${input}`);
    if (!info.isFile()) throw new HrsegError('INVALID_IMAGE', `${what} is not a regular file`);
    if (info.size === 0) throw new HrsegError('INVALID_IMAGE', `${what} is empty`);
    source = sharp(input, { limitInputPixels: maxPixels, pages: 1, failOn: 'warning' });
  } else if (input instanceof Uint8Array) {
    what = 'image buffer';
    if (input.length === 0) throw new HrsegError('INVALID_IMAGE', 'image buffer is empty');
    source = sharp(input, { limitInputPixels: maxPixels, pages: 1, failOn: 'warning' });
  } else if (isRaw(input)) {
    what = 'raw image';
    checkRaw(input, maxPixels);
    const channels = input.channels ?? 3;
    if (channels === 3) {
      // Already what we want: no copy.
      const data = input.data instanceof Uint8Array ? input.data : new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.length);
      return { data, width: input.width, height: input.height };
    }
    source = sharp(input.data, {
      raw: { width: input.width, height: input.height, channels },
      limitInputPixels: maxPixels,
    });
  } else {
    throw new HrsegError('INVALID_ARGUMENT', 'image must be a file path, a Buffer/Uint8Array of an encoded image, or { data, width, height, channels }');
  }

  const background = options.background ?? { r: 255, g: 255, b: 255 };
  try {
    const { data, info } = await source
      .autoOrient()
      .flatten({ background })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (signal?.aborted) throw abortError(signal);
    if (info.channels !== 3) throw new HrsegError('INTERNAL', `image decoding produced ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (error) {
    if (error instanceof HrsegError) throw error;
    throw sharpError(error, what);
  }
}
