/**
 * Small evaluation sets whose gIoU and cIoU are known by construction on the demo model (which
 * segments exactly the rectangle of the colour it is asked for).
 *
 * ReasonSeg (4 samples, one image each, a.png … d.png):
 *   a. "the red shape", ground truth the red rectangle                 → I 32000, U 32000, IoU 1
 *   b. "the green shape", ground truth green with its right half marked ignore (and a "flag"
 *      shape that must be skipped)                                     → I 16800, U 16800, IoU 1
 *   c. "the red shape", ground truth empty                             → I 0, U 32000, IoU 0
 *   d. "the blue shape", ground truth the yellow rectangle             → I 0, U 64000, IoU 0
 *   gIoU = 0.5, cIoU = 48800 / 144800.
 * LLM-Seg40K (2 samples, the scene image): blue as COCO RLE, yellow as a PNG → IoU 1 each.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';

import { encodeRle } from '../../lib/rle.js';
import { DEMO_RECTS } from '../../scripts/models/demo-package.js';
import { demoScene } from './demo.js';

export const REASONSEG_EXPECTED = { samples: 4, gIoU: 0.5, cIoU: 48800 / 144800 };

const rect = (name: string) => DEMO_RECTS.find((r) => r.name === name)!;
/** A labelme polygon covering exactly the w × h pixels of a rectangle (cv2 fills the outline too). */
const poly = (x: number, y: number, w: number, h: number) => [
  [x, y],
  [x + w - 1, y],
  [x + w - 1, y + h - 1],
  [x, y + h - 1],
];

export async function writeReasonSeg(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const png = await sharp(demoScene().rgb, { raw: { width: 640, height: 480, channels: 3 } })
    .png()
    .toBuffer();
  const r = rect('red'),
    g = rect('green'),
    y = rect('yellow');
  const write = (name: string, text: string, shapes: { label: string; points: number[][] }[]) => {
    writeFileSync(join(dir, `${name}.png`), png); // lossless, so the expected numbers are exact
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ text: [text], is_sentence: false, shapes }));
  };
  write('a', 'the red shape', [{ label: 'target', points: poly(r.x, r.y, r.w, r.h) }]);
  write('b', 'the green shape', [
    { label: 'target', points: poly(g.x, g.y, g.w, g.h) },
    { label: 'ignore_1', points: poly(g.x + g.w / 2, g.y, g.w / 2, g.h) },
    { label: 'flag', points: poly(0, 0, 640, 480) },
  ]);
  write('c', 'the red shape', []);
  write('d', 'the blue shape', [{ label: 'target', points: poly(y.x, y.y, y.w, y.h) }]);
}

export async function writeLlmSeg40k(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const scene = demoScene();
  writeFileSync(
    join(dir, 'scene.png'),
    await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
      .png()
      .toBuffer(),
  );
  const blue = scene.regions.find((x) => x.name === 'blue')!.mask;
  const yellow = scene.regions.find((x) => x.name === 'yellow')!.mask;
  const grey = new Uint8Array(yellow.length).map((_, i) => (yellow[i] ? 255 : 0));
  writeFileSync(
    join(dir, 'yellow.png'),
    await sharp(grey, { raw: { width: 640, height: 480, channels: 1 } })
      .png()
      .toBuffer(),
  );
  const json = join(dir, 'llmseg40k_val.json');
  writeFileSync(
    json,
    JSON.stringify({
      'scene.png': {
        qa_pairs: [
          { question: 'Which shape is blue?', answer: 'It is [SEG].', rle_seg: encodeRle(blue, 480, 640) },
          { question: 'Which shape is yellow?', answer: 'It is [SEG].', segmentation_path: 'yellow.png' },
        ],
      },
    }),
  );
  return json;
}
