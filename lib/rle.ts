/**
 * COCO run-length encoding (pycocotools' format) of binary masks: how proposals are stored and how
 * LLM-Seg40K's `rle_seg` is read. `counts` is the compact string form; an array of run lengths
 * (the uncompressed form) is accepted on decode.
 */
import { callNative } from './errors.js';
import { native } from './native.js';
import { tensor, type Tensor } from './tensor.js';

export interface CocoRle {
  /** [height, width], as pycocotools writes it. */
  size: [number, number];
  counts: string | number[];
}

interface NativeRleApi {
  rleEncode(mask: Tensor): string;
  rleDecode(height: number, width: number, counts: string | number[]): Tensor<'uint8'>;
}

const api = () => native() as unknown as NativeRleApi;

/** Encodes a mask (nonzero = set), given as a [H, W] uint8 tensor or bytes with its size. */
export function encodeRle(mask: Uint8Array, height: number, width: number): CocoRle {
  return { size: [height, width], counts: callNative(() => api().rleEncode(tensor('uint8', [height, width], mask))) };
}

/** Decodes to a 0/1 mask, row-major [H, W]. */
export function decodeRle(rle: CocoRle): Tensor<'uint8'> {
  const [h, w] = rle.size ?? [];
  return callNative(() => api().rleDecode(h, w, rle.counts));
}
