/**
 * LoRA merged into its base weights, W' = W + (α/r)·B·A (peft's merge), as a checkpoint view:
 * every `…lora_A.<adapter>.weight` / `…lora_B.<adapter>.weight` pair is folded into its base weight
 * (`….base_layer.weight` in newer peft, `….weight` in peft 0.4 as LLM-Seg saved it), which is
 * exposed under the plain `….weight` name; the LoRA tensors themselves are hidden. r comes from
 * the shapes; α is a parameter (LLM-Seg trained with α 16, r 8: LS training.py:182-227).
 * Merging happens when a tensor is read, one at a time, in float64.
 */
import { HrsegError } from '../errors.js';
import { BufferSource } from '../checkpoint/source.js';
import { CheckpointTensor, TensorMap, type Checkpoint } from '../checkpoint/tensor.js';

/** A float32 tensor computed on demand (from other tensors), memoised until released. */
export function computedTensor(name: string, shape: number[], compute: () => Float32Array): CheckpointTensor {
  const numel = shape.reduce((a, b) => a * b, 1);
  let cached: BufferSource | undefined;
  const source = {
    name: `${name} (computed)`,
    size: numel * 4,
    bytes(offset: number, length: number) {
      if (!cached) {
        const v = compute();
        if (v.length !== numel) throw new HrsegError('INTERNAL', `${name}: computed ${v.length} values, expected ${numel}`);
        cached = new BufferSource(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), name);
      }
      return cached.bytes(offset, length);
    },
    release() {
      cached = undefined;
    },
    close() {
      cached = undefined;
    },
  };
  return new CheckpointTensor(name, 'F32', shape, source, 0);
}

export interface LoraInfo {
  pairs: number;
  rank: number;
  alpha: number;
}

export function mergeLora(ck: Checkpoint, alpha = 16): { checkpoint: Checkpoint; lora: LoraInfo } {
  const keys = ck.keys();
  const tensors = new Map<string, CheckpointTensor>();
  const loraRe = /^(.*)\.lora_([AB])\.([^.]+)\.weight$/;
  const pairs = new Map<string, { A?: CheckpointTensor; B?: CheckpointTensor }>();
  for (const k of keys) {
    const m = loraRe.exec(k);
    if (!m) continue;
    const entry = pairs.get(m[1]) ?? {};
    entry[m[2] as 'A' | 'B'] = ck.get(k);
    pairs.set(m[1], entry);
  }
  let rank = 0;
  const merged = new Map<string, CheckpointTensor>();
  for (const [module, { A, B }] of pairs) {
    if (!A || !B) throw new HrsegError('MODEL_FILE', `${ck.path}: LoRA of '${module}' has lora_${A ? 'A' : 'B'} without lora_${A ? 'B' : 'A'}`);
    const baseName = ck.has(`${module}.base_layer.weight`) ? `${module}.base_layer.weight` : `${module}.weight`;
    const W = ck.get(baseName);
    const [out, inDim] = W.shape;
    const r = A.shape[0];
    A.expectShape([r, inDim]);
    B.expectShape([out, r]);
    rank = Math.max(rank, r);
    const scale = alpha / r;
    merged.set(
      `${module}.weight`,
      computedTensor(`${module}.weight`, [out, inDim], () => {
        const w = W.float32(),
          a = A.float32(),
          b = B.float32();
        const res = new Float32Array(out * inDim);
        const row = new Float64Array(inDim);
        for (let o = 0; o < out; o++) {
          row.fill(0);
          for (let k = 0; k < r; k++) {
            const bk = b[o * r + k];
            if (bk === 0) continue;
            for (let i = 0; i < inDim; i++) row[i] += bk * a[k * inDim + i];
          }
          for (let i = 0; i < inDim; i++) res[o * inDim + i] = w[o * inDim + i] + scale * row[i];
        }
        return res;
      }),
    );
  }
  for (const k of keys) {
    if (loraRe.test(k)) continue;
    const base = /^(.*)\.base_layer\.(weight|bias)$/.exec(k);
    const name = base ? `${base[1]}.${base[2]}` : k;
    if (merged.has(name)) continue;
    tensors.set(name, ck.get(k));
  }
  for (const [k, t] of merged) tensors.set(k, t);
  return {
    checkpoint: new TensorMap(
      ck.path,
      ck.format,
      tensors,
      [{ name: ck.path, size: 0, bytes: () => new Uint8Array(0), release: () => {}, close: () => ck.close() }],
      ck.metadata,
    ),
    lora: { pairs: pairs.size, rank, alpha },
  };
}
