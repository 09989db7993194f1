/**
 * What `convert()` takes and gives, and the shapes its builders share (the LLM-Seg/LISA VLM builder
 * writes graphs through the orchestrator's WriteGraph). Apart from convert.ts so that the builders
 * need not import the orchestrator that imports them.
 */
import type { GraphBuilder } from '../onnx/graph.js';
import type { Precision } from '../onnx/typed.js';

export interface ConvertOptions {
  /** A SAM checkpoint (sam_vit_{b,l,h}*.pth or a Hugging Face SAM), or `random:sam-vit-h` etc. */
  sam?: string;
  /** A DINOv2 checkpoint (dinov2_vit*14*_pretrain.pth or Hugging Face), or `random:dinov2-vitl14` etc. */
  dino?: string;
  /**
   * LLM-Seg's DeepSpeed checkpoint (mp_rank_00_model_states.pt): its LLaMA (LoRA merged), CLIP
   * tower and projector, DINOv2 and head become the package's VLM, dino and head, with the
   * llm-seg preset. Needs `tokenizer`; SAM comes from `sam` or `base`.
   */
  llmseg?: string;
  /**
   * A LLaVA-family checkpoint (LISA-7B-v1's shards, a LLaVA directory) whose CLIP projector and
   * LLaMA (LoRA merged when present) become the package's VLM; its head too when it holds LLM-Seg's.
   */
  vlm?: string;
  /**
   * A LISA checkpoint (LISA-7B-v1's shards, LISA-13B-llama2-v1): its SAM (`model.visual_model.*`,
   * with the fine-tuned mask decoder) becomes sam/encoder.onnx and sam/prompt-decoder.onnx
   * (prompted by the projected [SEG] state, single mask: SPEC 11.1), its LLaMA and projector the
   * VLM (with `clip`: LISA's file holds no CLIP), text_hidden_fcs head.safetensors; the package
   * has the `lisa` preset.
   */
  lisa?: string;
  /** A CLIP vision tower to use instead of the one inside `llmseg`/`vlm` (e.g. openai/clip-vit-large-patch14). */
  clip?: string;
  /** The base LLaVA's tokenizer.json or sentencepiece tokenizer.model (or its directory, with tokenizer_config.json). */
  tokenizer?: string;
  /** LoRA α (LLM-Seg: 16); r is read from the shapes. */
  loraAlpha?: number;
  /** LLaMA's RMSNorm epsilon (1e-6 for LLaMA-1 based LISA/LLM-Seg, 1e-5 for LLaMA-2). */
  rmsEps?: number;
  /** LLaMA's attention heads (default hidden/128: 32 for 7B, 40 for 13B). */
  llamaHeads?: number;
  out: string;
  /** A package whose other files (VLM, head, manifest) complete the new one. */
  base?: string;
  /** The DINOv2 view size (default: the base's views.dino.size, else 518). */
  dinoSize?: number;
  /**
   * How DINOv2's position table is resampled for the view: 'official' (default: as
   * facebookresearch/dinov2 computes it, which HRSeg's and LLM-Seg's heads were trained on,
   * whatever the weights' key names) or 'transformers' (as transformers' Dinov2Model does).
   */
  dinoTable?: 'official' | 'transformers';
  /**
   * Weight-only quantization of the LLaMA decoder's linear layers (q, k, v, o, gate, up, down),
   * blockwise along the input dimension, symmetric (README "Quantized decoders"). Default none.
   */
  quantize?: 'int4' | 'int8';
  /** Elements per int4 block (default 32); int8 is always per output channel (what TensorRT takes). */
  quantizeBlock?: number;
  /**
   * Lossy and opt-in: SAM's encoder and decoder and DINOv2 with int8 weights (per output channel)
   * and int8 activations (per tensor, at run time) in their linear layers, for ONNX Runtime's CPU
   * provider only (docs/quantization.md "Quantized vision"). Default none.
   */
  quantizeVision?: 'int8';
  /**
   * fp32 (default), or fp16 / bf16 graphs (weights stored in that type, float32 interface,
   * normalisations and softmax in float32; onnx/typed.ts): what TensorRT builds fp16/bf16 engines from.
   */
  precision?: Precision;
  force?: boolean;
  signal?: AbortSignal;
  /** One line per step: what is being built or written, and bytes done of total for long writes. */
  onProgress?: (event: { step: string; done?: number; total?: number }) => void;
}

export type WriteGraph = (
  key: string,
  rel: string,
  graph: GraphBuilder,
  source: string,
  arch: Record<string, unknown>,
  quantization?: Quantization,
) => Promise<void>;

/** A component's weight-only quantization, as recorded in hrseg.json's components. */
export interface Quantization {
  /** 'int4' or 'int8'. */
  type: 'int4' | 'int8';
  /** Inputs per block, or 'channel' (int8: one scale per output channel). */
  blockSize: number | 'channel';
  scheme: 'symmetric';
  /** The layers quantized (the rest keep the component's precision). */
  layers: string[];
  /**
   * 'int8-dynamic': the activations too, per tensor at run time (com.microsoft's
   * DynamicQuantizeMatMul: ONNX Runtime's CPU provider runs it; TensorRT cannot build it).
   * Absent: weight-only.
   */
  activations?: 'int8-dynamic';
  /**
   * With activations: the weights' codes stay within ±63 (quantize-vision.ts WEIGHT_CODE_MAX), which
   * ONNX Runtime's AVX2 kernels need. Absent in packages of the first --quantize-vision (full
   * range), which the runtime refuses on CPUs without VNNI.
   */
  weightBits?: 7;
}

export interface ConvertedComponent {
  file: string;
  source: string;
  arch: Record<string, unknown>;
  /** The weights' type (absent for files without weights, e.g. the tokenizer). */
  precision?: Precision;
  /** Weight-only quantization of some of its layers (the VLM decoder with `quantize`). */
  quantization?: Quantization;
  bytes: number;
  external: boolean;
}

export interface ConvertResult {
  dir: string;
  components: Record<string, ConvertedComponent>;
  /** False when the package still lacks files (listed in `missing`). */
  complete: boolean;
  missing: string[];
}
