/**
 * The evaluation sets of SPEC.md section 10 as lists of samples (image, instruction, ground
 * truth), read lazily so a large split does not sit in memory.
 *
 * - ReasonSeg: a folder of <name>.jpg + <name>.json; the json has `text` (instructions),
 *   `is_sentence`, and labelme `shapes`. Each (image, instruction) is one sample. The ground truth
 *   follows LISA's loader: "flag" shapes are skipped, polygons are filled largest area first, a
 *   label containing "ignore" writes 255 (ignored), any other writes 1.
 * - LLM-Seg40K: one json keyed by image file name, entries with `qa_pairs` of `question`, and
 *   `rle_seg` (COCO RLE) or `segmentation_path` (a PNG, nonzero = foreground).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

import sharp from 'sharp';

import { HrsegError } from '../errors.js';
import { decodeRle, type CocoRle } from '../rle.js';
import { fillPolygon } from './polygon.js';

export interface Sample {
  /** Stable id, used to resume: "<image file>#<instruction index>". */
  id: string;
  image: string;
  instruction: string;
  isSentence: boolean;
  /** Ground truth at the image's resolution: 0, 1, or 255 (ignore). */
  groundTruth(): Promise<{ mask: Uint8Array; width: number; height: number }>;
}

interface LabelmeShape {
  label: string;
  points: [number, number][];
}

/** LISA's get_mask_from_json. */
export function reasonSegMask(shapes: readonly LabelmeShape[], width: number, height: number): Uint8Array {
  const valid = shapes.filter((s) => s.label.toLowerCase() !== 'flag');
  const areas = valid.map((s) => {
    const tmp = new Uint8Array(width * height);
    fillPolygon(tmp, width, height, s.points, 1);
    let a = 0;
    for (const v of tmp) a += v;
    return a;
  });
  // np.argsort(areas)[::-1]: descending; equal areas end up later-first.
  const order = valid.map((_, i) => i).sort((a, b) => areas[b] - areas[a] || b - a);
  const mask = new Uint8Array(width * height);
  for (const i of order) fillPolygon(mask, width, height, valid[i].points, valid[i].label.toLowerCase().includes('ignore') ? 255 : 1);
  return mask;
}

async function imageSize(path: string): Promise<{ width: number; height: number }> {
  const m = await sharp(path)
    .metadata()
    .catch((cause: unknown) => {
      throw new HrsegError('INVALID_IMAGE', `${path}: ${(cause as Error).message}`, { cause });
    });
  // EXIF-rotated JPEGs: the annotation is in the displayed orientation.
  const swap = (m.orientation ?? 1) >= 5;
  return { width: (swap ? m.height : m.width) ?? 0, height: (swap ? m.width : m.height) ?? 0 };
}

export async function readReasonSeg(dir: string): Promise<Sample[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  if (names.length === 0) throw new HrsegError('INVALID_ARGUMENT', `${dir}: no ReasonSeg .json files`);
  const samples: Sample[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let anno: { text?: unknown; is_sentence?: unknown; shapes?: unknown };
    try {
      anno = JSON.parse(await readFile(path, 'utf8'));
    } catch (cause) {
      throw new HrsegError('INVALID_ARGUMENT', `${path}: not valid JSON (${(cause as Error).message})`, { cause });
    }
    const texts = typeof anno.text === 'string' ? [anno.text] : anno.text;
    if (!Array.isArray(texts) || !Array.isArray(anno.shapes))
      throw new HrsegError('INVALID_ARGUMENT', `${path}: expected "text" and "shapes" (ReasonSeg format)`);
    const stem = name.slice(0, -'.json'.length);
    const image = await findImage(dir, stem);
    const shapes = anno.shapes as LabelmeShape[];
    texts.forEach((text, i) =>
      samples.push({
        id: `${basename(image)}#${i}`,
        image,
        instruction: String(text),
        isSentence: Boolean(anno.is_sentence),
        async groundTruth() {
          const { width, height } = await imageSize(image);
          return { mask: reasonSegMask(shapes, width, height), width, height };
        },
      }),
    );
  }
  return samples;
}

async function findImage(dir: string, stem: string): Promise<string> {
  for (const ext of ['.jpg', '.jpeg', '.png', '.JPG', '.JPEG', '.PNG']) {
    const p = join(dir, stem + ext);
    if ((await stat(p).catch(() => undefined))?.isFile()) return p;
  }
  throw new HrsegError('IMAGE_NOT_FOUND', `${join(dir, stem)}.jpg: the image for ${stem}.json is missing`);
}

export async function readLlmSeg40k(jsonPath: string, imagesDir = dirname(jsonPath)): Promise<Sample[]> {
  let data: Record<string, { qa_pairs?: { question: string; answer?: string; rle_seg?: CocoRle; segmentation_path?: string }[] }>;
  try {
    data = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (cause) {
    throw new HrsegError('INVALID_ARGUMENT', `${jsonPath}: not readable JSON (${(cause as Error).message})`, { cause });
  }
  const samples: Sample[] = [];
  for (const [file, entry] of Object.entries(data)) {
    const image = join(imagesDir, file);
    (entry.qa_pairs ?? []).forEach((qa, i) => {
      if (!qa.rle_seg && !qa.segmentation_path)
        throw new HrsegError('INVALID_ARGUMENT', `${jsonPath}: ${file} pair ${i} has neither rle_seg nor segmentation_path`);
      samples.push({
        id: `${file}#${i}`,
        image,
        instruction: qa.question,
        isSentence: true,
        async groundTruth() {
          if (qa.rle_seg) {
            const m = decodeRle(qa.rle_seg);
            return { mask: m.data, width: m.dims[1], height: m.dims[0] };
          }
          const p = join(imagesDir, qa.segmentation_path!);
          const { data: px, info } = await sharp(p).greyscale().raw().toBuffer({ resolveWithObject: true });
          const mask = new Uint8Array(px.length);
          for (let k = 0; k < px.length; k++) mask[k] = px[k] ? 1 : 0;
          return { mask, width: info.width, height: info.height };
        },
      });
    });
  }
  return samples;
}

/** A folder → ReasonSeg; a .json file → LLM-Seg40K. */
export async function readDataset(path: string, imagesDir?: string): Promise<Sample[]> {
  const s = await stat(path).catch(() => undefined);
  if (!s) throw new HrsegError('INVALID_ARGUMENT', `dataset not found: ${path}`);
  if (s.isDirectory()) return readReasonSeg(path);
  if (extname(path).toLowerCase() === '.json') return readLlmSeg40k(path, imagesDir);
  throw new HrsegError('INVALID_ARGUMENT', `${path}: expected a ReasonSeg folder or an LLM-Seg40K .json`);
}
