/**
 * The shape of hrseg.json as written (every section optional), its file keys and preset names:
 * what both the reader (manifest.ts) and the presets (presets.ts) speak of, kept apart from either.
 */
import type { HeadConfigInput } from '../head.js';
import type { MaskGeneratorConfig } from '../proposals/config.js';
import type { SquareViewSpec } from '../views.js';
import type { VlmConfig } from '../vlm/runner.js';
import type { ConversationTemplate, QueryForm } from '../vlm/template.js';

export const PRESETS = ['hrseg', 'llm-seg', 'lisa'] as const;
export type PresetName = (typeof PRESETS)[number];

export const DEFAULT_FILES = Object.freeze({
  samEncoder: 'sam/encoder.onnx',
  samDecoder: 'sam/decoder.onnx',
  samPromptDecoder: 'sam/prompt-decoder.onnx',
  dinoEncoder: 'dino/encoder.onnx',
  vlmVision: 'vlm/vision.onnx',
  vlmDecoder: 'vlm/decoder.onnx',
  vlmEmbeddings: 'vlm/embed_tokens.safetensors',
  tokenizer: 'vlm/tokenizer.json',
  tokenizerConfig: 'vlm/tokenizer_config.json',
  head: 'head.safetensors',
});
export type PackageFiles = { -readonly [K in keyof typeof DEFAULT_FILES]: string };

/** hrseg.json as written (every section optional). */
export interface Manifest {
  format: 'hrseg-model';
  version: number;
  name?: string;
  description?: string;
  trained?: boolean;
  /** SPEC.md section 11: 'hrseg' (default), 'llm-seg' or 'lisa'; fills the values below that hrseg.json leaves out. */
  preset?: PresetName;
  /** Written by hrseg convert: per component, its source checkpoint, architecture, precision and size. */
  components?: Record<string, Record<string, unknown>>;
  files?: Partial<PackageFiles>;
  views?: { sam?: Partial<SquareViewSpec>; dino?: Partial<SquareViewSpec>; clip?: Partial<SquareViewSpec>; dinoPatch?: number };
  proposals?: Partial<MaskGeneratorConfig>;
  head?: HeadConfigInput;
  vlm?: Partial<Omit<VlmConfig, 'template' | 'view'>> & {
    template?: Partial<ConversationTemplate>;
    queryForm?: QueryForm;
    mode?: 'generate' | 'teacher-forced';
    /** What `hrseg eval` uses when not told (default: mode). */
    evalMode?: 'generate' | 'teacher-forced';
  };
}

/** The configurable sections of hrseg.json. */
export type ConfigSections = Pick<Manifest, 'views' | 'proposals' | 'head' | 'vlm'>;
