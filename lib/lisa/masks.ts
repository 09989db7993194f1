/**
 * LISA's masks from its SAM decoder's logits (SPEC section 11.1 step 7; LISA's
 * Sam.postprocess_masks, sam.py:159-171): each [SEG]'s low-resolution logits bilinearly to SAM's
 * padded frame, cropped to the resized image, bilinearly to the original size (align_corners
 * false both times, float32 logits), and the mask where the logit is above 0. Native
 * (native/core/src/mask_upscale.cc): the two resizes composed into one map per axis.
 */
import { callNative, HrsegError } from '../errors.js';
import { native } from '../native.js';
import { tensor, type Tensor } from '../tensor.js';

interface NativeMaskUpscaleApi {
  upscaleMaskLogits(low: Tensor, frame: number, height: number, width: number): Tensor<'float32'>;
}

/** low [n, L, L] or [n, 1, L, L] logits → [n, height, width] logits at the image's size. */
export function lisaMaskLogits(low: Tensor<'float32'>, image: { width: number; height: number }, frame = 1024): Tensor<'float32'> {
  const d = low.dims;
  if (!(d.length === 3 || (d.length === 4 && d[1] === 1)))
    throw new HrsegError('INVALID_TENSOR', `LISA masks: low-resolution logits must be [n, L, L] or [n, 1, L, L], got [${d.join(', ')}]`);
  const L = d[d.length - 1];
  const flat = tensor('float32', [d[0], d[d.length - 2], L], low.data);
  return callNative(() => (native() as unknown as NativeMaskUpscaleApi).upscaleMaskLogits(flat, frame, image.height, image.width));
}

/** The masks (1 where the logit is above 0), as LISA thresholds them (chat.py:231). */
export function masksFromLogits(logits: Tensor<'float32'>): Tensor<'uint8'> {
  return tensor(
    'uint8',
    [...logits.dims],
    Uint8Array.from(logits.data, (v) => (v > 0 ? 1 : 0)),
  );
}
