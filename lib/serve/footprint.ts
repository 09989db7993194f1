/**
 * What a prepared image holds, in bytes, for the cache's bound. Counting only some arrays made
 * `--cache-mb` a wish: the VLM's key/value cache of the image prefix (layers × 2 × heads × tokens
 * × head size, hundreds of MB for a 7B model) was not counted at all.
 */
import type { PreparedImage } from '../segmenter.js';
import { elementCount, type DType } from '../tensor.js';

const BYTES: Record<DType, number> = { float32: 4, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, bool: 1 };

/** A JS object's bookkeeping, beside its arrays. */
export const ENTRY_OVERHEAD = 64 * 1024;

interface Sized {
  dtype?: DType;
  dims?: readonly number[];
  data?: ArrayBufferView;
}

export function preparedBytes(p: PreparedImage): number {
  // Arrays may be shared (the head's features borrow the proposals): each counts once.
  const seen = new Set<unknown>();
  let total = ENTRY_OVERHEAD;
  const array = (a: ArrayBufferView | undefined) => {
    if (!a || seen.has(a)) return;
    seen.add(a);
    total += a.byteLength;
  };
  // A host tensor by its data; a device value (TensorRT's key/value cache) by its shape.
  const value = (v: Sized | undefined) => {
    if (!v) return;
    if (v.data && ArrayBuffer.isView(v.data)) array(v.data);
    else if (v.dtype && v.dims && !seen.has(v)) {
      seen.add(v);
      total += elementCount(v.dims) * BYTES[v.dtype];
    }
  };
  for (const t of Object.values(p.proposals)) value(t as Sized);
  const f = p.features;
  if (f) {
    for (const t of [f.region, f.hybrid, f.mHrp, f.mHre, f.proposals]) value(t);
    // A CUDA head keeps M_HRE and the proposals on the device as well.
    if (f.deviceImage !== undefined) total += f.mHre.data.byteLength + f.proposals.data.byteLength;
  }
  value(p.samEmbedding);
  value(p.vlm.embeddings);
  array(p.vlm.lastHidden);
  for (const v of Object.values(p.vlm.past)) value(v as Sized);
  return total;
}
