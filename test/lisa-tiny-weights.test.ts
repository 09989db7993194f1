/**
 * The tiny LISA checkpoint behind test/fixtures/lisa is not committed: test/helpers/lisa-tiny.ts
 * rebuilds it from cases.json's "weights" section with the portable generator that
 * scripts/fixtures/make_lisa_golden.py filled it with. Every rebuilt tensor's stored bytes must
 * have the sha256 the generator read back from the files LISA's code then ran on.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { lisaTinyTensors, storedBytes, writeLisaTiny, type LisaWeights } from './helpers/lisa-tiny.js';

const REPO = join(import.meta.dirname, '..');
const FIX = join(import.meta.dirname, 'fixtures/lisa');
const meta = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8')) as {
  weights: LisaWeights;
  checkpoint: { files: Record<string, { bytes: number; sha256: string }>; keys: Record<string, { shape: number[]; dtype: string }> };
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('the tiny LISA checkpoint, rebuilt in TypeScript from cases.json', () => {
  const tensors = lisaTinyTensors(meta);
  const entries = meta.weights.tensors;

  it('covers every saved key of the LISA folder (and the CLIP file beside it)', () => {
    const lisa = entries
      .filter((t) => !t.file.includes('/'))
      .map((t) => t.name)
      .sort();
    expect(lisa).toEqual(Object.keys(meta.checkpoint.keys).sort());
    for (const t of entries.filter((e) => !e.file.includes('/'))) {
      const k = meta.checkpoint.keys[t.name];
      expect(t.shape).toEqual(k.shape);
      expect(t.dtype).toBe(k.dtype === 'bfloat16' ? 'BF16' : 'F32');
    }
    expect(entries.some((t) => t.file.startsWith('clip-vit-tiny-patch14/'))).toBe(true);
    expect(Object.keys(tensors).length).toBe(entries.length);
  });

  it('records the scale rule of each kind', () => {
    for (const t of entries) {
      const fanIn = t.shape.reduce((a, b) => a * b, 1) / t.shape[0];
      const want = {
        norm: Math.sqrt(3) * 0.1,
        bias: Math.sqrt(3) * 0.1,
        small: Math.sqrt(3) * 0.1,
        unit: Math.sqrt(3),
        weight: Math.sqrt(3 / fanIn),
        constant: null,
      }[t.kind];
      expect(t.scale, t.name).toBe(want);
    }
  });

  it('every rebuilt tensor has the sha256 of its stored bytes', () => {
    const bad = entries.filter((t) => sha256(storedBytes(tensors[t.name])) !== t.sha256).map((t) => t.name);
    expect(bad).toEqual([]);
  });

  const dir = mkdtempSync(join(tmpdir(), 'lisa-tiny-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the checkpoint as safetensors in the generator’s layout, JSON files byte-identical', () => {
    const written = writeLisaTiny(meta, dir, REPO, tensors);
    for (const [saved, target] of Object.entries(meta.weights.files)) {
      const buf = readFileSync(join(dir, target));
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
      const names = entries
        .filter((t) => t.file === saved)
        .map((t) => t.name)
        .sort();
      expect(
        Object.keys(header)
          .filter((k) => k !== '__metadata__')
          .sort(),
      ).toEqual(names);
      for (const name of names) {
        const e = entries.find((t) => t.name === name)!,
          h = header[name];
        expect([h.dtype, h.shape]).toEqual([e.dtype, e.shape]);
        expect(sha256(buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]))).toBe(e.sha256);
      }
    }
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    expect(Object.keys(index.weight_map).sort()).toEqual(Object.keys(meta.checkpoint.keys).sort());
    // The JSON files and tokenizer.model are the generator's own (their sha256 is in checkpoint.files).
    for (const rel of [...Object.keys(meta.weights.text_files), ...Object.keys(meta.weights.copied_files)]) {
      expect(written[rel]).toBeDefined();
      expect(sha256(readFileSync(join(dir, rel))), rel).toBe(meta.checkpoint.files[rel].sha256);
    }
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).architectures).toEqual(['LISAForCausalLM']);
  });
});
