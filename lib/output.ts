/**
 * Writing results as images. Files are written to a temporary name beside the target and renamed
 * into place, so a failure or an interruption never leaves a half-written file.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

import sharp from 'sharp';

import type { RgbImage } from './image.js';

export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** The mask as an 8-bit grey PNG: 255 inside, 0 outside. */
export async function maskPng(mask: Uint8Array, width: number, height: number): Promise<Buffer> {
  const grey = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  return sharp(grey, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** The image with the mask tinted (half-way to `colour`) and everything else dimmed a little. */
export async function overlayPng(image: RgbImage, mask: Uint8Array, colour: [number, number, number] = [255, 40, 200]): Promise<Buffer> {
  const out = new Uint8Array(image.data.length);
  for (let p = 0; p < mask.length; p++)
    for (let c = 0; c < 3; c++) {
      const v = image.data[p * 3 + c];
      out[p * 3 + c] = mask[p] ? Math.round(0.5 * v + 0.5 * colour[c]) : Math.round(0.6 * v);
    }
  return sharp(out, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
}
