/**
 * The presets of SPEC.md section 11: `hrseg` (the paper's method, the default), `llm-seg` (the
 * published LLM-Seg model as its code runs it, wangjunchi/LLMSeg@65147a98) and `lisa` (LISA as its
 * chat.py and evaluator run it, dvlab-research/LISA@3cb2d430: no proposals, no DINOv2, its own SAM
 * decoder prompted by each [SEG]; section 11.1). A preset fills the
 * manifest's values; anything hrseg.json sets itself still wins. `resolveLayers` merges
 * SPEC's defaults, the preset and the manifest, and records where every value came from.
 */
import { PRESETS, type ConfigSections, type PresetName } from './types.js';

export { PRESETS, type ConfigSections, type PresetName };

/** The presets whose masks are chosen among SAM's proposals by the head (the rest: LISA's decoder). */
export const usesProposals = (preset: PresetName): boolean => preset !== 'lisa';

// LLM-Seg's and LISA's evaluation turns (LS utils/dataset.py:576-592, LISA utils/reason_seg_dataset.py
// and refer_seg_dataset.py): a space after the image's newline.
const EVAL_TURNS = {
  sentence: '<image>\n {query} Please output segmentation mask.',
  phrase: '<image>\n What is {query} in this image? Please output segmentation mask.',
};

export const PRESET_VALUES: Readonly<Record<PresetName, ConfigSections>> = Object.freeze({
  // SPEC's defaults are the hrseg preset: it adds nothing to them.
  hrseg: {},
  'llm-seg': {
    // One DINOv2 view at 896 (n_g 64): LS utils/dataset.py img_size = 896, ResizeLongestSide.
    views: { dino: { size: 896 } },
    head: {
      globalGrid: 64,
      // F_h := X_g (the 1×1 conv lisa_dino_conv is the input projection); no local crops, no HRE.
      hrp: false,
      hreLayers: 0,
      maskResize: 'bilinear-antialias',
      poolSize: 256,
      // LS validate_llmseg.py validate_threshold: every proposal with S_iop > 0.5, else nothing.
      selection: { strategy: 'iop-threshold', tau: 0.5, fallback: 'none' },
    },
    vlm: {
      // Its numbers were made with the answer "[SEG]." teacher-forced.
      mode: 'teacher-forced',
      template: EVAL_TURNS,
    },
  },
  lisa: {
    // SPEC 11.1 steps 1-2: LISA resizes PIL images (8-bit, rounded after each pass) for SAM and CLIP.
    views: { sam: { roundTo8Bits: true }, clip: { roundTo8Bits: true } },
    vlm: {
      // chat.py: the instruction as typed, greedy up to 512 tokens; its evaluator: "[SEG]." forced.
      queryForm: 'chat',
      mode: 'generate',
      evalMode: 'teacher-forced',
      maxNewTokens: 512,
      template: EVAL_TURNS,
    },
  },
} satisfies Record<PresetName, ConfigSections>);

/** Where a resolved value came from. */
export type ValueSource = 'default' | `preset ${PresetName}` | 'hrseg.json';

export interface Layer {
  source: ValueSource;
  values: object;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** A resolved value and the layer that supplied it. */
export interface Setting {
  value: unknown;
  source: ValueSource;
}

/**
 * Deep-merges the layers in order (later wins; arrays and scalars are leaves) and returns, for
 * every leaf, by dotted path (e.g. 'head.selection.tau'), its value and the layer that supplied it.
 */
export function resolveLayers(layers: readonly Layer[]): { values: Record<string, unknown>; settings: Record<string, Setting> } {
  const sources: Record<string, Setting> = {};
  const merge = (into: Record<string, unknown>, from: Record<string, unknown>, source: ValueSource, path: string) => {
    for (const [key, value] of Object.entries(from)) {
      if (value === undefined) continue;
      const at = path ? `${path}.${key}` : key;
      if (isPlainObject(value)) {
        if (!isPlainObject(into[key])) into[key] = {};
        merge(into[key] as Record<string, unknown>, value, source, at);
      } else {
        into[key] = value;
        for (const p of Object.keys(sources)) if (p.startsWith(`${at}.`)) delete sources[p];
        sources[at] = { value, source };
      }
    }
  };
  const values: Record<string, unknown> = {};
  for (const layer of layers) merge(values, layer.values as Record<string, unknown>, layer.source, '');
  return { values, settings: sources };
}
