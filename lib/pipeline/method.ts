/**
 * A method turns an image and the VLM's [SEG] states into masks. Two do today: the head over SAM's
 * proposals (HRSeg and LLM-Seg: head-method.ts) and LISA's decoder prompted by each [SEG]
 * (lisa/method.ts). The segmenter runs the stages they share (decoding, the VLM) around them.
 */
import type { Engine } from '../engines/types.js';
import type { RgbImage } from '../image.js';
import type { SelectionConfig } from '../head.js';
import type { Tensor } from '../tensor.js';
import type { TimeStage } from './timings.js';
import type { ImageStages, PreparedImage, ScoresEvent, SegmentPart } from './types.js';

export interface ImageStepContext {
  time: TimeStage;
  signal?: AbortSignal;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** The longest side SAM sees (the call's, else the segmenter's); undefined: the image's own. */
  proposalMaxSide?: number;
}

export interface MaskStepOptions {
  signal?: AbortSignal;
  selection?: Partial<SelectionConfig>;
}

/** The masks of every [SEG], as parts; `lowRes` when they were made at a smaller size first. */
export interface Masks {
  segments: SegmentPart[];
  lowRes?: { mask: Uint8Array; width: number; height: number };
}

export interface Method {
  /** The name of its mask step in the timings: the head's 'selection', LISA's 'masks'. */
  readonly maskStage: 'selection' | 'masks';
  /** Its engines, by component, for `Segmenter.backbones` (the VLM's are the runner's). */
  readonly engines: readonly Engine[];
  /** The image stages before the VLM's prefix; `release` frees what they left on a device. */
  imageStep(image: RgbImage, context: ImageStepContext): Promise<ImageStages & { release(): void }>;
  /** One mask per row of `seg` ([S, H]), with a scores event per [SEG] as each is chosen. */
  maskStep(prepared: PreparedImage, seg: Tensor<'float32'>, options: MaskStepOptions): AsyncGenerator<ScoresEvent, Masks>;
  dispose(): Promise<void>;
}
