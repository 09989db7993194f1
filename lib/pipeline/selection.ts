/**
 * Stage 4, selection: the head's instruction step scores every proposal against each [SEG]
 * (similarity, IoP), the strategy chooses, and the union of the chosen proposals is that [SEG]'s
 * mask, brought back to the image's size when SAM saw a shrunk copy.
 */
import type { Head } from '../head.js';
import type { Tensor } from '../tensor.js';
import type { Masks, MaskStepOptions } from './method.js';
import { resizeNearest } from './resize.js';
import type { PreparedImage, ScoresEvent, SegmentPart } from './types.js';

export async function* selectionStage(
  head: Head,
  prepared: PreparedImage,
  seg: Tensor<'float32'>,
  options: MaskStepOptions,
): AsyncGenerator<ScoresEvent, Masks> {
  const { width: W, height: H } = prepared;
  // The head's masks are at the proposals' size; nearest-resized to the image when SAM saw a
  // shrunk copy (the union of the chosen proposals resized back equals the resized union).
  const { width: w, height: h } = prepared.proposalSize;
  const rescaled = w !== W || h !== H;
  const lowMask = rescaled ? new Uint8Array(w * h) : undefined;
  const segments: SegmentPart[] = [];
  const done = (): Masks => ({ segments, ...(lowMask ? { lowRes: { mask: lowMask, width: w, height: h } } : {}) });
  const S = seg.dims[0];
  if (S === 0) return done();
  const r = await head.instructionStep(prepared.features!, seg, { signal: options.signal, selection: options.selection });
  const K = prepared.proposals.masks.dims[0];
  const full = rescaled ? resizeNearest(r.masks.data, S, h, w, H, W) : r.masks.data;
  for (let s = 0; s < S; s++) {
    const part: SegmentPart = {
      mask: full.subarray(s * W * H, (s + 1) * W * H),
      chosen: r.selections[s].chosen,
      fallback: r.selections[s].fallback,
      similarity: r.similarity.data.subarray(s * K, (s + 1) * K),
      iop: r.iop.data.subarray(s * K, (s + 1) * K),
    };
    if (lowMask) for (let i = 0, o = s * w * h; i < lowMask.length; i++) lowMask[i] |= r.masks.data[o + i];
    segments.push(part);
    yield { type: 'scores', segment: s, similarity: part.similarity, iop: part.iop, chosen: part.chosen, fallback: part.fallback };
  }
  return done();
}
