/**
 * The tiny LISA-7B-v1-layout checkpoint of test/fixtures/lisa (scripts/fixtures/make_lisa_golden.py),
 * rebuilt without Python from cases.json's "weights" section: every tensor comes from the portable
 * generator both sides share (FNV-1a 32 of the tensor's name seeds a 32-bit LCG; uniform values in
 * [-1, 1) times a recorded scale; lib/convert/random.ts's generator), then the recorded edits and
 * the bf16 rounding. writeLisaTiny lays the tensors out as the generator saved them (LISA folder with
 * two shards + index, the CLIP folder beside it), as safetensors instead of pytorch .bin files, with
 * the JSON files copied verbatim from cases.json and the tokenizer model from the repository.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { encodeSafetensors, type StoredTensor } from '../../lib/safetensors.js';

export type LisaWeightKind = 'norm' | 'bias' | 'small' | 'unit' | 'weight' | 'constant';

export interface LisaWeightEntry {
  name: string;
  /** The file the generator saved it in (pytorch .bin), relative to the model folder. */
  file: string;
  shape: number[];
  dtype: 'F32' | 'BF16';
  kind: LisaWeightKind;
  /** The float64 scale of the uniform draw (null for 'constant'). */
  scale: number | null;
  /** 'constant' only: the float32 values. */
  values?: number[];
  /** sha256 of the stored bytes (little-endian float32, or the bf16 uint16s). */
  sha256: string;
}

export interface LisaWeightEdit {
  name: string;
  row: number;
  multiply: number;
}

export interface LisaWeights {
  algorithm: string;
  kinds: Record<string, string>;
  edits: LisaWeightEdit[];
  /** Saved file (pytorch .bin) → the safetensors file written instead. */
  files: Record<string, string>;
  /** JSON files of the model folder (relative path → exact text). */
  text_files: Record<string, string>;
  /** Files copied from the repository (model-folder path → repository path). */
  copied_files: Record<string, string>;
  tensors: LisaWeightEntry[];
}

export interface LisaTinyTensor extends StoredTensor {
  dtype: 'F32' | 'BF16';
  data: Float32Array | Uint16Array;
}

/** FNV-1a 32-bit over the name's UTF-16 code units. */
export function fnv1a32(name: string): number {
  let s = 2166136261;
  for (let i = 0; i < name.length; i++) s = Math.imul(s ^ name.charCodeAt(i), 16777619) >>> 0;
  return s;
}

/** float32(scale·u), or float32(1 + scale·u) for 'norm', u from the name-seeded LCG (float64 arithmetic, one rounding). */
export function portableValues(name: string, numel: number, kind: Exclude<LisaWeightKind, 'constant'>, scale: number): Float32Array {
  const out = new Float32Array(numel);
  let s = fnv1a32(name);
  for (let i = 0; i < numel; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s / 4294967296) * 2 - 1;
    out[i] = kind === 'norm' ? 1 + scale * u : scale * u;
  }
  return out;
}

/** float32 → bf16 bits, round to nearest even (finite values), as torch's .to(torch.bfloat16). */
export function bf16FromF32(v: Float32Array): Uint16Array {
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length),
    out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const b = bits[i];
    out[i] = Math.floor((b + 0x7fff + ((b >>> 16) & 1)) / 65536);
  }
  return out;
}

const numelOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Every tensor of the tiny checkpoint (LISA folder and CLIP folder), name → stored dtype, shape and data. */
export function lisaTinyTensors(meta: { weights: LisaWeights }): Record<string, LisaTinyTensor> {
  const w = meta.weights,
    out: Record<string, LisaTinyTensor> = {};
  for (const t of w.tensors) {
    if (t.name in out) throw new Error(`${t.name}: twice in the weights section`);
    const numel = numelOf(t.shape);
    let v: Float32Array;
    if (t.kind === 'constant') {
      if (!t.values || t.values.length !== numel) throw new Error(`${t.name}: constant without ${numel} values`);
      v = Float32Array.from(t.values);
    } else {
      if (typeof t.scale !== 'number') throw new Error(`${t.name}: no scale`);
      v = portableValues(t.name, numel, t.kind, t.scale);
    }
    for (const e of w.edits) {
      if (e.name !== t.name) continue;
      const cols = numel / t.shape[0];
      for (let i = e.row * cols; i < (e.row + 1) * cols; i++) v[i] = Math.fround(v[i] * e.multiply);
    }
    out[t.name] = { dtype: t.dtype, shape: t.shape, data: t.dtype === 'BF16' ? bf16FromF32(v) : v };
  }
  return out;
}

/** Little-endian bytes of a tensor as stored (what cases.json's sha256 is of). */
export function storedBytes(t: LisaTinyTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * Writes the tiny checkpoint under `dir` as the generator's model folder is laid out: the LISA
 * shards as model-0000k-of-0000n.safetensors + model.safetensors.index.json, the CLIP folder
 * (clip-vit-tiny-patch14/model.safetensors), config.json and the other JSON files verbatim, and
 * tokenizer.model copied from `repoRoot`. Returns the written files (model-folder relative path → absolute path).
 */
export function writeLisaTiny(meta: { weights: LisaWeights }, dir: string, repoRoot: string, tensors = lisaTinyTensors(meta)): Record<string, string> {
  const w = meta.weights,
    written: Record<string, string> = {};
  const put = (rel: string, data: string | Uint8Array) => {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, data);
    written[rel] = p;
  };
  const byFile = new Map<string, Record<string, LisaTinyTensor>>();
  for (const t of w.tensors) {
    const target = w.files[t.file];
    if (!target) throw new Error(`${t.name}: file ${t.file} has no safetensors name`);
    if (!byFile.has(target)) byFile.set(target, {});
    byFile.get(target)![t.name] = tensors[t.name];
  }
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [target, group] of [...byFile].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    put(target, encodeSafetensors(group, { format: 'pt' }));
    if (dirname(target) === '.') {
      for (const [name, t] of Object.entries(group)) {
        weightMap[name] = target;
        totalSize += t.data.byteLength;
      }
    }
  }
  const sortedMap = Object.fromEntries(
    Object.keys(weightMap)
      .sort()
      .map((k) => [k, weightMap[k]]),
  );
  put('model.safetensors.index.json', JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sortedMap }, null, 2) + '\n');
  for (const [rel, text] of Object.entries(w.text_files)) put(rel, text);
  for (const [rel, src] of Object.entries(w.copied_files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    copyFileSync(join(repoRoot, src), p);
    written[rel] = p;
  }
  return written;
}
