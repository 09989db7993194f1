/**
 * The tensor contracts of the model package (DESIGN.md): what each component file must take and
 * give, by name, dtype and shape. Numbers are fixed sizes; symbols are sizes the file may fix or
 * leave dynamic, but every use of one symbol within a file must agree, and a symbol the caller
 * binds (from the manifest, e.g. S = 1024) must match where the file fixes it.
 */
import { HrsegError } from '../errors.js';
import type { Dim, TensorSpec } from './types.js';

export interface Contract {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  /** Inputs/outputs beyond the listed ones that are allowed (the VLM's key/value cache). */
  extra?: RegExp;
}

const f32 = (name: string, dims: Dim[]): TensorSpec => ({ name, dtype: 'float32', dims });
const i64 = (name: string, dims: Dim[]): TensorSpec => ({ name, dtype: 'int64', dims });

export const CONTRACTS: Readonly<Record<string, Contract>> = Object.freeze({
  'sam/encoder': {
    inputs: [f32('image', [1, 3, 'S', 'S'])],
    outputs: [f32('image_embeddings', [1, 256, 64, 64])],
  },
  'sam/decoder': {
    inputs: [f32('image_embeddings', [1, 256, 64, 64]), f32('point_coords', ['B', 1, 2]), f32('point_labels', ['B', 1])],
    outputs: [f32('low_res_masks', ['B', 3, 256, 256]), f32('iou_predictions', ['B', 3])],
  },
  // LISA's fine-tuned decoder, prompted by the projected [SEG] states, single mask (SPEC 11.1 step 6).
  'sam/prompt-decoder': {
    inputs: [f32('image_embeddings', [1, 256, 64, 64]), f32('sparse_embeddings', ['B', 'n', 256])],
    outputs: [f32('low_res_masks', ['B', 1, 256, 256]), f32('iou_predictions', ['B', 1])],
  },
  'dino/encoder': {
    inputs: [f32('pixel_values', ['V', 3, 'D', 'D'])],
    outputs: [f32('patch_tokens', ['V', 'T', 'C'])],
  },
  'vlm/vision': {
    inputs: [f32('pixel_values', [1, 3, 's', 's'])],
    outputs: [f32('image_embeds', [1, 'T', 'H'])],
  },
  'vlm/decoder': {
    inputs: [f32('inputs_embeds', [1, 'S', 'H']), i64('position_ids', [1, 'S'])],
    outputs: [f32('logits', [1, 'S', 'V']), f32('hidden', [1, 'S', 'H'])],
    extra: /^(past|present)\.\d+\.(key|value)$/,
  },
});

export type Component = keyof typeof CONTRACTS;

/** The package's files (hrseg.json /files keys) that hold each ONNX component. */
export const ONNX_COMPONENT_FILES = Object.freeze({
  samEncoder: 'sam/encoder',
  samDecoder: 'sam/decoder',
  samPromptDecoder: 'sam/prompt-decoder',
  dinoEncoder: 'dino/encoder',
  vlmVision: 'vlm/vision',
  vlmDecoder: 'vlm/decoder',
} as const);

const show = (dims: readonly (Dim | undefined)[]) => `[${dims.map((d) => (d === undefined ? '?' : String(d))).join(', ')}]`;

/**
 * Compares what a file declares with the contract and throws one MODEL_FILE error listing every
 * difference (file, tensor, expected, found). `actual` dims: a number when fixed, a string (or
 * undefined) when dynamic.
 */
export function checkContract(
  file: string,
  component: string,
  actual: { inputs: readonly TensorSpec[]; outputs: readonly TensorSpec[] },
  bindings: Readonly<Record<string, number>> = {},
): void {
  const contract = CONTRACTS[component];
  if (!contract) throw new HrsegError('INVALID_ARGUMENT', `unknown model component '${component}'`);
  const problems: string[] = [];
  const symbols = new Map<string, { value: number; where: string }>(Object.entries(bindings).map(([k, v]) => [k, { value: v, where: 'the manifest' }]));
  for (const side of ['inputs', 'outputs'] as const) {
    const kind = side === 'inputs' ? 'input' : 'output';
    const found = new Map(actual[side].map((t) => [t.name, t]));
    for (const want of contract[side]) {
      const got = found.get(want.name);
      if (!got) {
        problems.push(
          `${kind} '${want.name}' is missing (expected ${want.dtype}${show(want.dims)}; the file has ${[...found.keys()].map((n) => `'${n}'`).join(', ') || 'none'})`,
        );
        continue;
      }
      found.delete(want.name);
      const expected = `${want.dtype}${show(want.dims)}`;
      const seen = `${got.dtype}${show(got.dims)}`;
      if (got.dtype !== want.dtype) {
        problems.push(`${kind} '${want.name}': expected dtype ${want.dtype}, found ${got.dtype} (expected ${expected}, found ${seen})`);
        continue;
      }
      if (got.dims.length !== want.dims.length) {
        problems.push(`${kind} '${want.name}': expected rank ${want.dims.length} ${expected}, found rank ${got.dims.length} ${seen}`);
        continue;
      }
      want.dims.forEach((w, i) => {
        const g = got.dims[i];
        if (typeof g !== 'number') return; // dynamic in the file: any size is accepted at run time
        if (typeof w === 'number') {
          if (g !== w) problems.push(`${kind} '${want.name}': dim ${i} expected ${w}, found ${g} (expected ${expected}, found ${seen})`);
          return;
        }
        const prior = symbols.get(w);
        if (prior && prior.value !== g) problems.push(`${kind} '${want.name}': dim ${i} (${w}) is ${g}, but ${w} = ${prior.value} from ${prior.where}`);
        else if (!prior) symbols.set(w, { value: g, where: `${kind} '${want.name}'` });
      });
    }
    for (const name of found.keys())
      if (!contract.extra?.test(name)) problems.push(`unexpected ${kind} '${name}' (the contract has ${contract[side].map((t) => `'${t.name}'`).join(', ')})`);
  }
  if (problems.length > 0) throw new HrsegError('MODEL_FILE', `${file} does not match the ${component} contract:\n  - ${problems.join('\n  - ')}`);
}
