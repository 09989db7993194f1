/**
 * LISA's way from a [SEG] to a mask (SPEC.md section 11.1 steps 5-8): text_hidden_fcs projects each
 * [SEG]'s hidden state to SAM's prompt width, LISA's fine-tuned SAM decoder takes it as the only
 * sparse prompt (one batch item per [SEG], no-mask dense prompt, single mask), and LISA's
 * postprocess brings the logits to the image (lib/lisa/masks.ts). No proposals and no selection.
 */
import { abortError } from '../abort.js';
import { openCheckpoint } from '../checkpoint/index.js';
import type { Engine, EngineInput } from '../engines/types.js';
import { HrsegError } from '../errors.js';
import { tensor, type Tensor } from '../tensor.js';
import { lisaMaskLogits, masksFromLogits } from './masks.js';

/** [SEG]s decoded per decoder call (the TensorRT engine's largest batch, build-engines' default). */
export const LISA_DECODER_BATCH = 16;

const NAMES = ['text_hidden_fcs.0.0.weight', 'text_hidden_fcs.0.0.bias', 'text_hidden_fcs.0.2.weight', 'text_hidden_fcs.0.2.bias'] as const;

/** t = W2·ReLU(W1·h + b1) + b2 (LISA.py's text_hidden_fcs; its dropout is 0), float64 sums. */
export class TextProjection {
  private constructor(
    private readonly w1: Float32Array,
    private readonly b1: Float32Array,
    private readonly w2: Float32Array,
    private readonly b2: Float32Array,
    /** H, the language model's hidden size. */
    readonly hiddenSize: number,
    /** The prompt width (256, SAM's). */
    readonly outSize: number,
  ) {}

  static load(file: string): TextProjection {
    const ck = openCheckpoint(file);
    try {
      const missing = NAMES.filter((n) => !ck.has(n));
      if (missing.length) throw new HrsegError('MODEL_FILE', `${file}: ${missing.join(', ')} missing (the lisa preset's head is text_hidden_fcs)`);
      const H = ck.get(NAMES[0]).shape[1],
        out = ck.get(NAMES[2]).shape[0];
      // Copies: the file is closed here, and a view into a mapping would not outlive it.
      const read = (n: (typeof NAMES)[number], shape: number[]) => Float32Array.from(ck.get(n).expectShape(shape).float32());
      return new TextProjection(read(NAMES[0], [H, H]), read(NAMES[1], [H]), read(NAMES[2], [out, H]), read(NAMES[3], [out]), H, out);
    } finally {
      ck.close();
    }
  }

  /** h [S, H] → t [S, out]. */
  project(h: Tensor<'float32'>): Tensor<'float32'> {
    const H = this.hiddenSize,
      O = this.outSize;
    if (h.dims.length !== 2 || h.dims[1] !== H)
      throw new HrsegError('INVALID_TENSOR', `text_hidden_fcs: expected [n, ${H}] hidden states, got [${h.dims.join(', ')}]`);
    const S = h.dims[0];
    const out = new Float32Array(S * O);
    const mid = new Float64Array(H);
    for (let s = 0; s < S; s++) {
      const x = h.data.subarray(s * H, (s + 1) * H);
      for (let o = 0; o < H; o++) {
        const row = this.w1.subarray(o * H, (o + 1) * H);
        let acc = this.b1[o];
        for (let i = 0; i < H; i++) acc += row[i] * x[i];
        mid[o] = acc > 0 ? Math.fround(acc) : 0;
      }
      for (let o = 0; o < O; o++) {
        const row = this.w2.subarray(o * H, (o + 1) * H);
        let acc = this.b2[o];
        for (let i = 0; i < H; i++) acc += row[i] * mid[i];
        out[s * O + o] = acc;
      }
    }
    return tensor('float32', [S, O], out);
  }
}

export interface LisaMasks {
  /** [S, height, width] 0/1, one mask per [SEG]. */
  masks: Tensor<'uint8'>;
  /** [S, height, width] the logits they were thresholded from. */
  logits: Tensor<'float32'>;
  /** [S] the decoder's predicted IoU (LISA does not use it). */
  iou: Float32Array;
}

export class LisaHead {
  constructor(
    readonly projection: TextProjection,
    readonly decoder: Engine,
    /** Side of SAM's padded frame (1024). */
    private readonly frame: number,
  ) {}

  /** One mask per row of `hSeg` ([S, H]), all prompting the same image embedding. */
  async masks(embedding: EngineInput, hSeg: Tensor<'float32'>, image: { width: number; height: number }, signal?: AbortSignal): Promise<LisaMasks> {
    const t = this.projection.project(hSeg);
    const S = t.dims[0],
      D = t.dims[1],
      plane = image.width * image.height;
    const logits = new Float32Array(S * plane),
      iou = new Float32Array(S);
    // Each [SEG] its own batch item with a one-token sparse prompt, as LISA.py:411-420 calls it
    // (batch items are independent: chunking changes nothing).
    for (let s0 = 0; s0 < S; s0 += LISA_DECODER_BATCH) {
      if (signal?.aborted) throw abortError(signal);
      const n = Math.min(LISA_DECODER_BATCH, S - s0);
      const prompts = tensor('float32', [n, 1, D], t.data.subarray(s0 * D, (s0 + n) * D));
      const out = await this.decoder.run({ image_embeddings: embedding, sparse_embeddings: prompts }, { signal });
      try {
        const low = (await out.low_res_masks.host()) as Tensor<'float32'>;
        logits.set(lisaMaskLogits(low, image, this.frame).data, s0 * plane);
        iou.set(((await out.iou_predictions.host()) as Tensor<'float32'>).data, s0);
      } finally {
        for (const v of Object.values(out)) v.release?.();
      }
    }
    const all = tensor('float32', [S, image.height, image.width], logits);
    return { masks: masksFromLogits(all), logits: all, iou };
  }

  dispose(): Promise<void> {
    return this.decoder.dispose();
  }
}
