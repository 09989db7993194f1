/**
 * The networks each preset runs, in pipeline order, with the package file each is read from and
 * the sizes the manifest fixes in it. The one table that the engine providers open components from
 * and that build-engines builds engines from (the head's generated engines come after these).
 */
import type { Component } from '../engines/contracts.js';
import type { ModelPackage } from './manifest.js';
import { usesProposals } from './presets.js';
import type { PackageFiles, PresetName } from './types.js';

export interface ComponentEntry {
  component: Component;
  /** The hrseg.json /files key of its ONNX graph. */
  file: keyof PackageFiles;
  /** The contract's symbols the manifest fixes, checked when the graph is opened. */
  bindings?(pkg: ModelPackage): Readonly<Record<string, number>>;
  /**
   * Runs once per image with large activations (SAM-H's encoder peaks near 10 GB): a runtime
   * should give them back after each run rather than keep them reserved beside everything else.
   */
  oncePerImage?: boolean;
  /**
   * The leading batch an ONNX Runtime CPU run of it is fastest at (Engine.preferredBatch). SAM's
   * decoder: each prompt carries [4096, 256] and [65536, 32] activations, so 64 prompts a run
   * stream ~0.5 GB tensors through memory where 4 stay near the caches (docs/performance.md).
   */
  cpuBatch?: number;
}

const ENTRIES: Readonly<Record<Component, ComponentEntry>> = Object.freeze({
  'sam/encoder': { component: 'sam/encoder', file: 'samEncoder', bindings: (p) => ({ S: p.views.sam.size }), oncePerImage: true },
  'sam/decoder': { component: 'sam/decoder', file: 'samDecoder', cpuBatch: 4 },
  'sam/prompt-decoder': { component: 'sam/prompt-decoder', file: 'samPromptDecoder' },
  'dino/encoder': {
    component: 'dino/encoder',
    file: 'dinoEncoder',
    bindings: (p) => ({ D: p.views.dino.size, T: p.head.globalGrid ** 2, C: p.head.featureDim }),
    oncePerImage: true,
  },
  // The VLM's hidden size H is fixed by its embedding table, which the runner reads and binds itself.
  'vlm/vision': { component: 'vlm/vision', file: 'vlmVision', bindings: (p) => ({ s: p.vlm.view.size }), oncePerImage: true },
  'vlm/decoder': { component: 'vlm/decoder', file: 'vlmDecoder' },
});

/** The networks a preset runs besides its head, in pipeline order. */
export const backboneComponents = (preset: PresetName): readonly Component[] =>
  usesProposals(preset)
    ? ['sam/encoder', 'sam/decoder', 'dino/encoder', 'vlm/vision', 'vlm/decoder']
    : ['sam/encoder', 'sam/prompt-decoder', 'vlm/vision', 'vlm/decoder'];

export const componentEntry = (component: Component): ComponentEntry => ENTRIES[component];
