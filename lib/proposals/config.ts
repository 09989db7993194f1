/**
 * The settings of SAM's automatic mask generator (SPEC.md section 3), all manifest fields.
 */
import { HrsegError } from '../errors.js';

export interface MaskGeneratorConfig {
  /** The prompt grid is pointsPerSide² cell centres over the image (32 → 1024 prompts). */
  pointsPerSide: number;
  /** Prompts per decoder call: a speed/memory knob that does not change the result. */
  pointsPerBatch: number;
  /** Keep a mask when its predicted IoU is above this. */
  predIouThreshold: number;
  /** Keep a mask when |x > t + o| / |x > t − o| is at least this. */
  stabilityThreshold: number;
  stabilityOffset: number;
  /** t: a pixel is in the mask when its upsampled logit is above this. */
  maskThreshold: number;
  /** Box NMS drops a mask whose box IoU with a better one is above this. */
  boxNmsThreshold: number;
  /** K: the largest this many masks by area are kept. */
  maxProposals: number;
  /** Only 0 is supported (SAM's crop layers; LLM-Seg used none). */
  cropLayers: number;
  /** Only 0 is supported (SAM's small-region clean-up; off in LLM-Seg). */
  minRegionArea: number;
}

export const DEFAULT_MASK_GENERATOR_CONFIG: Readonly<MaskGeneratorConfig> = Object.freeze({
  pointsPerSide: 32,
  pointsPerBatch: 64,
  predIouThreshold: 0.88,
  stabilityThreshold: 0.95,
  stabilityOffset: 1.0,
  maskThreshold: 0.0,
  boxNmsThreshold: 0.7,
  maxProposals: 50,
  cropLayers: 0,
  minRegionArea: 0,
});

export function resolveMaskGeneratorConfig(input: Partial<MaskGeneratorConfig> = {}): MaskGeneratorConfig {
  const c = { ...DEFAULT_MASK_GENERATOR_CONFIG, ...input };
  const fail = (m: string) => {
    throw new HrsegError('INVALID_ARGUMENT', `mask generator: ${m}`);
  };
  const int = (k: keyof MaskGeneratorConfig, min: number, max: number) => {
    if (!Number.isInteger(c[k]) || c[k] < min || c[k] > max) fail(`${k} must be an integer in [${min}, ${max}], got ${c[k]}`);
  };
  const real = (k: keyof MaskGeneratorConfig, min: number, max: number) => {
    if (!(typeof c[k] === 'number' && c[k] >= min && c[k] <= max)) fail(`${k} must be a number in [${min}, ${max}], got ${c[k]}`);
  };
  int('pointsPerSide', 1, 256);
  int('pointsPerBatch', 1, 65536);
  real('predIouThreshold', -Infinity, Infinity);
  real('stabilityThreshold', 0, 1);
  real('stabilityOffset', 0, Infinity);
  real('maskThreshold', -Infinity, Infinity);
  real('boxNmsThreshold', 0, 1);
  int('maxProposals', 0, 100000);
  if (c.cropLayers !== 0) fail(`cropLayers ${c.cropLayers} is not supported (only 0)`);
  if (c.minRegionArea !== 0) fail(`minRegionArea ${c.minRegionArea} is not supported (only 0)`);
  return c;
}
