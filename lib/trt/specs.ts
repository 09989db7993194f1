/**
 * What build-engines builds for a package: one engine per component, each with the ONNX it is
 * built from and its optimisation profiles (shape ranges), from the package's own values.
 * - SAM encoder: static [1, 3, S, S].
 * - SAM decoder: the prompt batch B over 1 … pointsPerBatch (opt: pointsPerBatch, the AMG batch).
 * - DINOv2: the view batch V over 1 … 1 + N² with HRP (global view + crops), 1 without.
 * - CLIP vision: static.
 * - VLM decoder: two profiles over one graph (DESIGN.md): decode (1 token, 1 … context − 1 cached)
 *   and extend (1 … context tokens over 0 … context − 1 cached: the image prefix, an instruction);
 *   the KV cache is preallocated to the context limit.
 * - Head: the image step (K proposals up to maxProposals, masks up to maxMaskSide per side) and the
 *   instruction step (K as above), written from head.safetensors (head-graph.ts, plugin form).
 * The lisa preset has no SAM point decoder, DINOv2 or head engines; its prompt decoder takes one
 * batch item per [SEG] (1 … 16, the runtime's chunk; one sparse token each).
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';

import { HrsegError } from '../errors.js';
import type { ModelPackage } from '../package/manifest.js';
import type { Component } from '../engines/contracts.js';
import { backboneComponents, componentEntry } from '../package/components.js';
import { usesProposals } from '../package/presets.js';
import { LISA_DECODER_BATCH } from '../lisa/head.js';
import type { ProfileRange } from './sidecar.js';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };

export interface EngineSpec {
  /** Component name, also the plan's file stem: 'sam/encoder' → sam-encoder.plan. */
  component: string;
  /** Package-relative ONNX file, or 'head.safetensors' for the generated head graphs. */
  source: string;
  /** Which generated graph, for the head. */
  generated?: 'head-image' | 'head-instruction';
  profiles: ProfileRange[][];
}

export interface SpecOptions {
  /** Tokens the VLM's KV cache holds (default 2048). */
  context?: number;
  /**
   * Largest proposal count the head engines take (default: the package's proposals.maxProposals,
   * 256 when that is unlimited). The image engine's activations grow with K·H·W: the uint8 masks,
   * their fp16 cast and MaskPooling's byte masks are 4·K·H·W bytes, 800 MiB at K 50 and 2048²,
   * 4 GiB at K 256, reserved at the largest profile shape.
   */
  maxProposals?: number;
  /** Largest mask side the head's image engine takes (default 2048). */
  maxMaskSide?: number;
}

const fixed = (name: string, dims: number[]): ProfileRange => ({ name, min: dims, opt: dims, max: dims });

/** Input names and dims of an ONNX file (numbers fixed, strings symbolic), without its weights' meaning. */
export async function onnxInputs(file: string): Promise<{ name: string; dims: (number | string)[] }[]> {
  const model = onnx.ModelProto.decode(await readFile(file));
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  return (model.graph?.input ?? [])
    .filter((i) => !inits.has(i.name))
    .map((i) => ({
      name: i.name ?? '',
      dims: (i.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))),
    }));
}

export async function engineSpecs(pkg: ModelPackage, options: SpecOptions = {}): Promise<EngineSpec[]> {
  const rel = (abs: string) => abs.slice(pkg.dir.length + 1);
  const S = pkg.views.sam.size,
    D = pkg.views.dino.size,
    s = pkg.views.clip.size;
  const B = pkg.proposals.pointsPerBatch;
  const h = pkg.head;
  const maxViews = h.hrp ? 1 + h.magnification ** 2 : 1;
  const maxK = options.maxProposals ?? (pkg.proposals.maxProposals > 0 ? pkg.proposals.maxProposals : 256);
  const maxSide = options.maxMaskSide ?? 2048;
  const ctx = options.context ?? 2048;
  if (!Number.isInteger(ctx) || ctx < 2) throw new HrsegError('INVALID_ARGUMENT', `context must be an integer ≥ 2, got ${ctx}`);
  const G = h.globalGrid ** 2,
    L = (h.magnification * h.globalGrid) ** 2;
  const maxSeg = LISA_DECODER_BATCH; // the runtime decodes [SEG]s in chunks of this many
  const lisa = !usesProposals(pkg.preset);
  // The decoder's cache inputs: [1, heads, P, headDim], from the file (or the manifest when symbolic).
  const inputs = await onnxInputs(pkg.files.vlmDecoder);
  const cache = inputs.filter((i) => /^past\.\d+\.(key|value)$/.test(i.name));
  if (cache.length === 0) throw new HrsegError('MODEL_FILE', `${pkg.files.vlmDecoder}: no past.{i}.key/value inputs (the decoder needs a KV cache)`);
  const H = pkg.head.hiddenSize;
  const cacheDims = (i: { name: string; dims: (number | string)[] }) => {
    const heads = typeof i.dims[1] === 'number' ? i.dims[1] : pkg.vlm.kvHeads;
    const hd = typeof i.dims[3] === 'number' ? i.dims[3] : pkg.vlm.headDim;
    if (heads === undefined || hd === undefined)
      throw new HrsegError('MODEL_FILE', `${i.name} is ${JSON.stringify(i.dims)}: set vlm.kvHeads and vlm.headDim in hrseg.json`);
    return { heads, hd };
  };
  // Profile 0, decode: one new token over 1 … context − 1 cached ones (the runner picks the first
  // profile that admits a call, so generation lands here). Profile 1, extend: any number of new
  // tokens over any cache (the image prefix over an empty cache, an instruction over the prefix).
  const decode: ProfileRange[] = [
    fixed('inputs_embeds', [1, 1, H]),
    fixed('position_ids', [1, 1]),
    ...cache.map((i) => {
      const { heads, hd } = cacheDims(i);
      return { name: i.name, min: [1, heads, 1, hd], opt: [1, heads, Math.min(ctx - 1, 512), hd], max: [1, heads, ctx - 1, hd] };
    }),
  ];
  const extend: ProfileRange[] = [
    { name: 'inputs_embeds', min: [1, 1, H], opt: [1, Math.min(ctx, 512), H], max: [1, ctx, H] },
    { name: 'position_ids', min: [1, 1], opt: [1, Math.min(ctx, 512)], max: [1, ctx] },
    ...cache.map((i) => {
      const { heads, hd } = cacheDims(i);
      return { name: i.name, min: [1, heads, 0, hd], opt: [1, heads, 0, hd], max: [1, heads, ctx - 1, hd] };
    }),
  ];
  // Each backbone's profiles; which backbones a preset has, and the file each is built from, come
  // from the components table (lib/package/components.ts) that the runtime opens them from too.
  const profiles: Record<Component, () => ProfileRange[][]> = {
    'sam/encoder': () => [[fixed('image', [1, 3, S, S])]],
    'sam/prompt-decoder': () => [
      [fixed('image_embeddings', [1, 256, 64, 64]), { name: 'sparse_embeddings', min: [1, 1, 256], opt: [1, 1, 256], max: [maxSeg, 1, 256] }],
    ],
    'sam/decoder': () => [
      [
        fixed('image_embeddings', [1, 256, 64, 64]),
        { name: 'point_coords', min: [1, 1, 2], opt: [B, 1, 2], max: [B, 1, 2] },
        { name: 'point_labels', min: [1, 1], opt: [B, 1], max: [B, 1] },
      ],
    ],
    'dino/encoder': () => [[{ name: 'pixel_values', min: [1, 3, D, D], opt: [maxViews, 3, D, D], max: [maxViews, 3, D, D] }]],
    'vlm/vision': () => [[fixed('pixel_values', [1, 3, s, s])]],
    'vlm/decoder': () => [decode, extend],
  };
  const specs: EngineSpec[] = backboneComponents(pkg.preset).map((c) => ({
    component: c,
    source: rel(pkg.files[componentEntry(c).file]),
    profiles: profiles[c](),
  }));
  if (lisa) return specs;
  const image: ProfileRange[] = [
    fixed('fg', [G, h.featureDim]),
    ...(h.hrp ? [fixed('fl', [L, h.featureDim])] : []),
    { name: 'masks', min: [1, 1, 1], opt: [Math.min(50, maxK), 768, 1024].map((v) => Math.min(v, maxSide)), max: [maxK, maxSide, maxSide] },
  ];
  specs.push({ component: 'head/image', source: rel(pkg.files.head), generated: 'head-image', profiles: [image] });
  specs.push({
    component: 'head/instruction',
    source: rel(pkg.files.head),
    generated: 'head-instruction',
    profiles: [[{ name: 'mHre', min: [1, h.dim], opt: [Math.min(50, maxK), h.dim], max: [maxK, h.dim] }, fixed('hSeg', [1, h.hiddenSize])]],
  });
  return specs;
}

export function planFile(component: string): string {
  return `${component.replace(/\//g, '-')}.plan`;
}
