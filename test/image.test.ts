import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { loadImage } from '../lib/image.js';

const dir = mkdtempSync(join(tmpdir(), 'hrseg-image-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small RGB image whose pixel (x, y) is (10x + y, 100 + y, 200 − x): every value distinct and known. */
function pattern(width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; ++y) for (let x = 0; x < width; ++x) out.set([10 * x + y, 100 + y, 200 - x], (y * width + x) * 3);
  return out;
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp) {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HrsegError);
  expect((error as HrsegError).code).toBe(code);
  if (message) expect((error as HrsegError).message).toMatch(message);
}

describe('loadImage', () => {
  const W = 5,
    H = 3;
  const pixels = pattern(W, H);

  it('decodes a PNG file and a PNG Buffer to the exact RGB pixels', async () => {
    const png = await sharp(pixels, { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    const path = join(dir, 'p.png');
    writeFileSync(path, png);
    for (const input of [path, png, new Uint8Array(png)]) {
      const img = await loadImage(input);
      expect([img.width, img.height]).toEqual([W, H]);
      expect(Array.from(img.data)).toEqual(Array.from(pixels));
    }
  });

  it('reads other formats sharp knows (JPEG, WebP, TIFF) at the right size and colour', async () => {
    const flat = new Uint8Array(16 * 8 * 3).fill(0).map((_, i) => [200, 40, 90][i % 3]);
    const raw = sharp(flat, { raw: { width: 16, height: 8, channels: 3 } });
    for (const encoded of [
      await raw.clone().jpeg({ quality: 95 }).toBuffer(),
      await raw.clone().webp({ lossless: true }).toBuffer(),
      await raw.clone().tiff().toBuffer(),
    ]) {
      const img = await loadImage(encoded);
      expect([img.width, img.height]).toEqual([16, 8]);
      for (let i = 0; i < img.data.length; ++i) expect(Math.abs(img.data[i] - flat[i])).toBeLessThanOrEqual(3);
    }
  });

  it('borrows raw RGB pixels without copying', async () => {
    const img = await loadImage({ data: pixels, width: W, height: H, channels: 3 });
    expect(img.data.buffer).toBe(pixels.buffer);
  });

  it('converts raw grey, grey + alpha and RGBA to RGB, compositing alpha over the background', async () => {
    const grey = await loadImage({ data: Uint8Array.from([0, 128, 255, 7]), width: 2, height: 2, channels: 1 });
    expect(Array.from(grey.data)).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7]);
    const ga = await loadImage({ data: Uint8Array.from([100, 255, 100, 0]), width: 2, height: 1, channels: 2 });
    expect(Array.from(ga.data)).toEqual([100, 100, 100, 255, 255, 255]);
    const rgba = await loadImage(
      { data: Uint8Array.from([10, 20, 30, 255, 10, 20, 30, 0]), width: 2, height: 1, channels: 4 },
      { background: { r: 0, g: 0, b: 0 } },
    );
    expect(Array.from(rgba.data)).toEqual([10, 20, 30, 0, 0, 0]);
  });

  it('applies EXIF orientation', async () => {
    // 8 wide, 4 high: left half red, right half blue. Orientation 6 = rotate 90° clockwise to view.
    const data = new Uint8Array(8 * 4 * 3);
    for (let y = 0; y < 4; ++y) for (let x = 0; x < 8; ++x) data.set(x < 4 ? [255, 0, 0] : [0, 0, 255], (y * 8 + x) * 3);
    const jpeg = await sharp(data, { raw: { width: 8, height: 4, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const img = await loadImage(jpeg);
    expect([img.width, img.height]).toEqual([4, 8]);
    // After a clockwise turn the old left (red) is on top.
    expect(img.data[0]).toBeGreaterThan(200);
    expect(img.data[7 * 4 * 3 + 2]).toBeGreaterThan(200);
  });

  it('converts 16-bit and grey PNGs to 8-bit RGB', async () => {
    const png16 = await sharp(pixels, { raw: { width: W, height: H, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const img = await loadImage(png16);
    expect(Array.from(img.data)).toEqual(Array.from(pixels));
    const greyPng = await sharp(Uint8Array.from([9, 99, 199, 249]), { raw: { width: 2, height: 2, channels: 1 } })
      .png()
      .toBuffer();
    expect(Array.from((await loadImage(greyPng)).data)).toEqual([9, 9, 9, 99, 99, 99, 199, 199, 199, 249, 249, 249]);
  });

  it('takes the first frame of an animated image', async () => {
    const red = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff0000' } })
      .png()
      .toBuffer();
    const blue = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#0000ff' } })
      .png()
      .toBuffer();
    const gif = await sharp([red, blue], { join: { animated: true } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const img = await loadImage(gif);
    expect([img.width, img.height]).toEqual([4, 4]);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([255, 0, 0]);
  });

  describe('bad input gives a typed error', () => {
    it('missing file, directory, empty file, empty buffer', async () => {
      await expectCode(loadImage(join(dir, 'nope.png')), 'IMAGE_NOT_FOUND', /nope\.png/);
      const sub = join(dir, 'sub');
      mkdirSync(sub, { recursive: true });
      await expectCode(loadImage(sub), 'INVALID_IMAGE', /not a regular file/);
      writeFileSync(join(dir, 'empty.png'), '');
      await expectCode(loadImage(join(dir, 'empty.png')), 'INVALID_IMAGE', /empty/);
      await expectCode(loadImage(new Uint8Array(0)), 'INVALID_IMAGE', /empty/);
    });

    it('non-image bytes, a text file, truncated PNG and JPEG', async () => {
      await expectCode(loadImage(new TextEncoder().encode('hello, not an image')), 'INVALID_IMAGE', /could not be decoded/);
      writeFileSync(join(dir, 'notes.txt'), 'just text\n'.repeat(20));
      await expectCode(loadImage(join(dir, 'notes.txt')), 'INVALID_IMAGE', /notes\.txt/);
      const big = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 7919) % 251);
      const png = await sharp(big, { raw: { width: 64, height: 64, channels: 3 } })
        .png()
        .toBuffer();
      const jpeg = await sharp(big, { raw: { width: 64, height: 64, channels: 3 } })
        .jpeg()
        .toBuffer();
      await expectCode(loadImage(png.subarray(0, png.length >> 1)), 'INVALID_IMAGE');
      await expectCode(loadImage(jpeg.subarray(0, jpeg.length >> 1)), 'INVALID_IMAGE');
    });

    it('a decompression bomb is refused from its header', async () => {
      const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#000' } })
        .png()
        .toBuffer();
      await expectCode(loadImage(png, { maxPixels: 50_000 }), 'IMAGE_TOO_LARGE', /pixel/);
      await expectCode(
        loadImage({ data: new Uint8Array(300 * 200 * 3), width: 300, height: 200, channels: 3 }, { maxPixels: 50_000 }),
        'IMAGE_TOO_LARGE',
        /300×200/,
      );
    });

    it('raw images with wrong sizes, channels or data', async () => {
      await expectCode(loadImage({ data: new Uint8Array(10), width: 2, height: 2, channels: 3 }), 'INVALID_IMAGE', /expected/);
      await expectCode(loadImage({ data: new Uint8Array(0), width: 0, height: 2, channels: 3 }), 'INVALID_IMAGE', /positive/);
      await expectCode(loadImage({ data: new Uint8Array(20), width: 2, height: 2, channels: 5 as 3 }), 'INVALID_IMAGE', /channels/);
      await expectCode(loadImage(42 as unknown as string), 'INVALID_ARGUMENT', /file path/);
    });

    it('an aborted signal rejects with ABORTED', async () => {
      const controller = new AbortController();
      controller.abort();
      await expectCode(loadImage(new Uint8Array(10), { signal: controller.signal }), 'ABORTED');
    });
  });
});
