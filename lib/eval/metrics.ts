/**
 * gIoU and cIoU (SPEC.md section 9): per sample, I and U of prediction and ground truth over
 * foreground pixels, with ignore pixels (255) excluded from both; IoU = I / U, and 1 when U = 0.
 * gIoU is the mean of per-sample IoU, cIoU = ΣI / ΣU.
 */
import { HrsegError } from '../errors.js';

export const IGNORE = 255;

export interface SampleScore {
  intersection: number;
  union: number;
  iou: number;
}

/** `pred` 0/1 (nonzero = foreground), `gt` 0, 1 or 255 (ignore), same size. */
export function scoreSample(pred: Uint8Array, gt: Uint8Array): SampleScore {
  if (pred.length !== gt.length) throw new HrsegError('INVALID_ARGUMENT', `prediction has ${pred.length} pixels, ground truth ${gt.length}`);
  let intersection = 0,
    union = 0;
  for (let i = 0; i < gt.length; i++) {
    const g = gt[i];
    if (g === IGNORE) continue;
    const p = pred[i] !== 0,
      t = g !== 0;
    if (p && t) intersection++;
    if (p || t) union++;
  }
  return { intersection, union, iou: union === 0 ? 1 : intersection / union };
}

export interface Aggregate {
  samples: number;
  gIoU: number;
  cIoU: number;
}

export function aggregate(scores: readonly SampleScore[]): Aggregate {
  let sumIoU = 0,
    I = 0,
    U = 0;
  for (const s of scores) {
    sumIoU += s.iou;
    I += s.intersection;
    U += s.union;
  }
  return { samples: scores.length, gIoU: scores.length ? sumIoU / scores.length : 0, cIoU: U === 0 ? 1 : I / U };
}
