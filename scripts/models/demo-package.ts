/**
 * The demo model package: a complete hrseg package built from the tiny pieces in this folder
 * (tiny SAM, tiny DINOv2, tiny VLM, a hand-built head). It is built for testing, not trained: it
 * segments coloured shapes on a dark background by the colour word in the instruction, which is
 * enough to show (and test) every stage of the pipeline end to end. Deterministic: the same bytes
 * every time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Manifest } from '../../lib/package/manifest.js';
import { DEMO_HEAD_CONFIG, DEMO_LLMSEG_HEAD_CONFIG, demoHeadWeights } from './demo-head.js';
import { tinyDinoEncoder } from './tiny-dino.js';
import { tinyLisaPromptDecoder, tinyLisaTextFcs } from './tiny-lisa.js';
import { tinySamDecoder, tinySamEncoder } from './tiny-sam.js';
import { tinyDecoder, tinyEmbeddingsFile, tinyTokenizerConfig, tinyTokenizerJson, tinyVision } from './tiny-vlm.js';

export const DEMO_MANIFEST: Manifest = {
  format: 'hrseg-model',
  version: 1,
  name: 'hrseg-demo',
  description:
    'Built for testing, not trained: finds coloured shapes (red, green, blue, yellow, cyan, magenta, white, orange) on a dark background by the colour word in the instruction.',
  trained: false,
  // 16² prompts (40 pixels apart on the 640×480 example) find every shape at a quarter of the cost.
  proposals: { pointsPerSide: 16 },
  head: DEMO_HEAD_CONFIG,
  vlm: { maxNewTokens: 16 },
};

/**
 * The llm-seg twin: the same tiny pieces run as the llm-seg preset (SPEC.md section 11) runs the
 * published LLM-Seg model: one DINOv2 view at 896 (n_g 64), no HRP or HRE, iop-threshold τ 0.5
 * with no fallback, "[SEG]." teacher-forced. Only what the preset does not set is given here.
 */
export const DEMO_LLMSEG_MANIFEST: Manifest = {
  ...DEMO_MANIFEST,
  name: 'hrseg-demo-llm-seg',
  description: `${DEMO_MANIFEST.description} The llm-seg preset's twin of the demo model.`,
  preset: 'llm-seg',
  head: DEMO_LLMSEG_HEAD_CONFIG,
};

/**
 * The lisa twin: the tiny SAM encoder and VLM with LISA's way to the mask (scripts/models/tiny-lisa.ts):
 * the [SEG] state, projected, prompts a decoder that outlines the named colour. No proposals, no
 * DINOv2, no selection head; the preset's chat form, generate mode and 8-bit resizes.
 */
export const DEMO_LISA_MANIFEST: Manifest = {
  format: 'hrseg-model',
  version: 1,
  name: 'hrseg-demo-lisa',
  description: `${DEMO_MANIFEST.description} The lisa preset's twin of the demo model.`,
  trained: false,
  preset: 'lisa',
  head: { hiddenSize: DEMO_HEAD_CONFIG.hiddenSize },
  vlm: { maxNewTokens: 16 },
};

export function writeDemoPackage(dir: string, manifest: Manifest = DEMO_MANIFEST): void {
  const llmSeg = manifest.preset === 'llm-seg';
  const lisa = manifest.preset === 'lisa';
  for (const sub of lisa ? ['sam', 'vlm'] : ['sam', 'dino', 'vlm']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'sam/encoder.onnx'), tinySamEncoder());
  writeVlm(dir);
  writeFileSync(join(dir, 'hrseg.json'), JSON.stringify(manifest, null, 2) + '\n');
  if (lisa) {
    writeFileSync(join(dir, 'sam/prompt-decoder.onnx'), tinyLisaPromptDecoder());
    writeFileSync(join(dir, 'head.safetensors'), tinyLisaTextFcs());
    return;
  }
  writeFileSync(join(dir, 'sam/decoder.onnx'), tinySamDecoder());
  writeFileSync(join(dir, 'dino/encoder.onnx'), tinyDinoEncoder(DEMO_HEAD_CONFIG.featureDim, undefined, llmSeg ? 896 : 518));
  writeFileSync(join(dir, 'head.safetensors'), demoHeadWeights(llmSeg ? { hrp: false, hreLayers: 0 } : {}));
}

function writeVlm(dir: string): void {
  writeFileSync(join(dir, 'vlm/vision.onnx'), tinyVision());
  writeFileSync(join(dir, 'vlm/decoder.onnx'), tinyDecoder());
  writeFileSync(join(dir, 'vlm/embed_tokens.safetensors'), tinyEmbeddingsFile());
  writeFileSync(join(dir, 'vlm/tokenizer.json'), JSON.stringify(tinyTokenizerJson(), null, 1));
  writeFileSync(join(dir, 'vlm/tokenizer_config.json'), JSON.stringify(tinyTokenizerConfig(), null, 1));
}

/** The demo scene: four rectangles on black, edges on 10-pixel steps (the tiny SAM's 16-pixel cells at ×1.6). */
export const DEMO_RECTS = [
  { name: 'red', colour: [220, 30, 30] as [number, number, number], x: 40, y: 40, w: 200, h: 160 },
  { name: 'green', colour: [30, 200, 40] as [number, number, number], x: 320, y: 60, w: 280, h: 120 },
  { name: 'blue', colour: [40, 50, 220] as [number, number, number], x: 80, y: 280, w: 200, h: 160 },
  { name: 'yellow', colour: [230, 220, 40] as [number, number, number], x: 360, y: 260, w: 200, h: 160 },
];
