/**
 * The pixel limit, checked from the image's header before anything is decoded: a 730 KB PNG can
 * declare 16,000 × 16,000 pixels (768 MB decoded, several GB through the pipeline).
 */
import sharp from 'sharp';

import { HrsegError } from '../errors.js';

export async function checkPixels(bytes: Uint8Array, maxPixels: number): Promise<{ width: number; height: number }> {
  let width: number | undefined;
  let height: number | undefined;
  try {
    // metadata() reads the header only; the first page is what the segmenter decodes.
    ({ width, height } = await sharp(bytes, { pages: 1 }).metadata());
  } catch (e) {
    throw new HrsegError('INVALID_IMAGE', `the upload is not an image sharp reads: ${(e as Error).message}`, { cause: e });
  }
  if (!width || !height) throw new HrsegError('INVALID_IMAGE', 'the upload is an image without a size in its header');
  if (width * height > maxPixels)
    throw new HrsegError('IMAGE_TOO_LARGE', `the image is ${width}×${height} = ${width * height} pixels, over the limit of ${maxPixels} (--max-pixels)`);
  return { width, height };
}
