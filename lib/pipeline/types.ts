/** What `createSegmenter`, `prepare`, `segment` and `segmentStream` take and give. */
import type { TritonConnection } from '../engines/provider.js';
import type { ImageFeatures, SelectionConfig } from '../head.js';
import type { Proposals } from '../proposals/mask-generator.js';
import type { Tensor } from '../tensor.js';
import type { VlmContext } from '../vlm/runner.js';
import type { QueryForm } from '../vlm/template.js';

/** An engine provider's name (the built-in ones, or one registered with registerProvider), or 'auto'. */
export type Device = 'cpu' | 'cuda' | 'tensorrt' | 'triton' | 'auto' | (string & {});

export interface SegmenterOptions {
  /** A model package directory (docs/model-package.md). */
  model: string;
  /** 'auto' (default) picks the best this machine runs; 'cpu' always works. */
  device?: Device;
  /** Largest image accepted, in pixels (default 2^28). */
  maxPixels?: number;
  /** Default for PrepareOptions.proposalMaxSide (none: SAM sees the image itself). */
  proposalMaxSide?: number;
  /**
   * device 'triton': the Triton Inference Server that serves the package's networks (a repository
   * written by `hrseg export-triton`); docs/triton.md.
   */
  triton?: TritonConnection;
  signal?: AbortSignal;
}

export interface PrepareOptions {
  signal?: AbortSignal;
  /** Progress of the image stages (today: 'proposals', prompts done of total). */
  onProgress?: (stage: string, done: number, total: number) => void;
  /**
   * Run SAM on the image shrunk to this longest side (OpenCV's INTER_AREA) when it is larger, as
   * LLM-Seg made its proposals (1024). The head pools those proposals at that size; every mask
   * in the result is brought back to the image's size with PyTorch's nearest resize (the union
   * of the chosen proposals resized back). Default: the segmenter's `proposalMaxSide`, else none.
   * The lisa preset has no proposals and refuses it.
   */
  proposalMaxSide?: number;
}

export interface StageTimings {
  [stage: string]: number;
}

/** What a method's image stages leave for the instruction steps. */
export interface ImageStages {
  /**
   * SAM's proposals, at `proposalSize` (the image's own size unless proposalMaxSide shrank it).
   * The lisa preset makes none: an empty set.
   */
  readonly proposals: Proposals;
  readonly proposalSize: { readonly width: number; readonly height: number };
  /** How many views DINOv2 encoded: 1 + N² with HRP, 1 without (the llm-seg preset), 0 for lisa. */
  readonly dinoViews: number;
  /** The head's image step (HRP, HRE, pooling); absent for the lisa preset. */
  readonly features?: ImageFeatures;
  /** The lisa preset: SAM's image embedding [1, 256, 64, 64], prompted once per [SEG]. */
  readonly samEmbedding?: Tensor<'float32'>;
}

export interface PreparedImage extends ImageStages {
  readonly width: number;
  readonly height: number;
  readonly vlm: VlmContext;
  /** ms per image-only stage */
  readonly timings: StageTimings;
  /**
   * Frees what this image holds on the device (the VLM's key/value cache of the image prefix on
   * TensorRT, a CUDA head's M_HRE and proposals) now rather than at the segmenter's dispose or
   * when it is collected. Segmenting it afterwards is an error.
   */
  release(): void;
  /** @internal The segmenter that made it. */
  readonly owner: object;
}

export interface SegmentOptions {
  signal?: AbortSignal;
  /** As PrepareOptions.proposalMaxSide, when `image` is not a PreparedImage. */
  proposalMaxSide?: number;
  /** How the instruction is phrased in the prompt (default from the manifest, 'sentence'). */
  form?: QueryForm;
  /** 'generate' (default) or 'teacher-forced' (the evaluation protocol of LISA and LLM-Seg). */
  mode?: 'generate' | 'teacher-forced';
  /** Override the manifest's selection strategy for this call (the lisa preset has no selection). */
  selection?: Partial<SelectionConfig>;
  maxNewTokens?: number;
  /** Progress of the image stages (today: 'proposals', prompts done of total). */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface SegmentPart {
  /** This [SEG]'s mask, width × height, 0/1. */
  mask: Uint8Array;
  /* The lisa preset chooses no proposals: chosen [], fallback false, similarity and iop empty. */
  /** lisa: the logits the mask was thresholded from (> 0), width × height (LISA's postprocess). */
  logits?: Float32Array;
  chosen: number[];
  /**
   * True when the strategy chose nothing and top1-sim was used instead. With the selection's
   * fallback 'none' (the llm-seg preset) such a segment has `chosen: []`, `fallback: false` and an
   * empty mask.
   */
  fallback: boolean;
  similarity: Float32Array;
  iop: Float32Array;
}

export interface SegmentResult {
  width: number;
  height: number;
  /** The union of every [SEG]'s mask, width × height, 0/1 (all zero when the answer had no [SEG]). */
  mask: Uint8Array;
  /** The model's answer text. */
  answer: string;
  /** One entry per [SEG] in the answer, in order. */
  segments: SegmentPart[];
  /** Chosen proposal indices of all segments (ascending, unique). */
  chosen: number[];
  /** The proposals this was chosen from (at `lowRes`'s size when proposalMaxSide shrank the image). */
  proposals: Proposals;
  /**
   * Only when proposalMaxSide shrank the image: the union mask at the proposals' size, before the
   * nearest resize to the image (what LLM-Seg's scorer resizes; `hrseg eval --score-size` uses it).
   */
  lowRes?: { mask: Uint8Array; width: number; height: number };
  /** ms per stage: image stages (0 when a PreparedImage was reused), reasoning, selection (lisa: masks), total. */
  timings: StageTimings;
}

export type ScoresEvent = { type: 'scores'; segment: number; similarity: Float32Array; iop: Float32Array; chosen: number[]; fallback: boolean };

export type SegmentEvent =
  | { type: 'prepared'; proposals: number; timings: StageTimings }
  | { type: 'token'; id: number; text: string }
  | ScoresEvent
  | { type: 'result'; result: SegmentResult };
