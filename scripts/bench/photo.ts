/**
 * The benchmarks' 1024×768 photo-like image (bench:pipeline, bench:peers): smooth gradients,
 * overlapping shapes and texture, the same bytes every time. In a module of its own because
 * pipeline.ts runs its main() when imported.
 */
import sharp from 'sharp';

export const PHOTO_WIDTH = 1024;
export const PHOTO_HEIGHT = 768;

/** A 1024×768 RGB image with the structure of a photo: smooth gradients, overlapping shapes, texture. */
export async function photo(): Promise<Buffer> {
  const W = PHOTO_WIDTH,
    H = PHOTO_HEIGHT,
    px = Buffer.alloc(W * H * 3);
  let s = 1;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const blobs = Array.from({ length: 12 }, () => ({ x: rnd() * W, y: rnd() * H, r: 60 + rnd() * 200, c: [rnd() * 255, rnd() * 255, rnd() * 255] }));
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let c = [90 + (80 * y) / H, 120 + (60 * x) / W, 160 - (40 * y) / H];
      for (const b of blobs) if ((x - b.x) ** 2 + (y - b.y) ** 2 < b.r ** 2) c = b.c;
      const n = (rnd() - 0.5) * 16;
      for (let k = 0; k < 3; k++) px[(y * W + x) * 3 + k] = Math.max(0, Math.min(255, c[k] + n));
    }
  return sharp(px, { raw: { width: W, height: H, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}
