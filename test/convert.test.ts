/**
 * hrseg convert / convert(): checkpoints → package components, built in a temporary directory and
 * renamed into place, contracts checked, provenance recorded in hrseg.json.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { openCheckpoint } from '../lib/checkpoint/index.js';
import { convert } from '../lib/convert/convert.js';
import { buildDinov2 } from '../lib/convert/dinov2.js';
import { HrsegError } from '../lib/errors.js';
import { readPackage } from '../lib/package/manifest.js';
import { demoPackage } from './helpers/demo.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'hrseg-convert-'));
const base = demoPackage();
const FIX = join(import.meta.dirname, 'fixtures');
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(dirname(base), { recursive: true, force: true });
});
const leftovers = () => readdirSync(work).filter((f) => f.includes('.partial'));

describe('convert()', () => {
  it('writes dino/encoder.onnx into a copy of a base package, checks its contract, records where it came from', async () => {
    const out = join(work, 'pkg');
    const steps: string[] = [];
    const r = await convert({ dino: join(FIX, 'dinov2/vit-tiny.pth'), base, out, dinoSize: 70, onProgress: (e) => steps.push(e.step) });
    expect(r.complete).toBe(true);
    expect(r.components.dinoEncoder).toMatchObject({ file: 'dino/encoder.onnx', precision: 'fp32', external: false });
    expect(steps.some((s) => /checking dino\/encoder\.onnx against the dino\/encoder contract/.test(s))).toBe(true);
    const m = JSON.parse(readFileSync(join(out, 'hrseg.json'), 'utf8'));
    expect(m.views.dino.size).toBe(70);
    expect(m.head).toMatchObject({ globalGrid: 5, featureDim: 128 });
    expect(m.components.dinoEncoder.source).toMatch(/vit-tiny\.pth$/);
    expect(m.components.dinoEncoder.arch).toMatchObject({ dim: 128, depth: 2, heads: 2, keys: 'official', viewSize: 70 });
    expect(existsSync(join(out, 'vlm/decoder.onnx'))).toBe(true); // the base's other files
    const pkg = await readPackage(out);
    expect(pkg.views.dino.size).toBe(70);
    expect(leftovers()).toEqual([]);
  });

  it('refuses a SAM whose grid breaks the sam/encoder contract, and leaves nothing behind', async () => {
    const out = join(work, 'bad');
    const e = await convert({ sam: join(FIX, 'sam/sam-tiny.pth'), out }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HrsegError);
    expect((e as HrsegError).code).toBe('MODEL_FILE');
    expect((e as Error).message).toMatch(/sam\/encoder contract/);
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('an existing package is replaced only with force; an abort leaves nothing', async () => {
    const out = join(work, 'twice');
    await convert({ dino: join(FIX, 'dinov2/vit-tiny-reg.pth'), out });
    await expect(convert({ dino: join(FIX, 'dinov2/vit-tiny-reg.pth'), out })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /already exists/ });
    const r = await convert({ dino: join(FIX, 'dinov2/vit-tiny-reg-hf.safetensors'), out, force: true });
    expect(r.complete).toBe(false);
    expect(r.missing).toEqual([
      'sam/encoder.onnx',
      'sam/decoder.onnx',
      'vlm/vision.onnx',
      'vlm/decoder.onnx',
      'vlm/embed_tokens.safetensors',
      'vlm/tokenizer.json',
      'vlm/tokenizer_config.json',
      'head.safetensors',
    ]);
    expect(JSON.parse(readFileSync(join(out, 'hrseg.json'), 'utf8')).components.dinoEncoder.arch.keys).toBe('hf');
    const c = new AbortController();
    c.abort();
    await expect(convert({ dino: join(FIX, 'dinov2/vit-tiny.pth'), out: join(work, 'aborted'), signal: c.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(existsSync(join(work, 'aborted'))).toBe(false);
    expect(leftovers()).toEqual([]);
    await expect(convert({ out: join(work, 'x') })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('typed packages', () => {
  it('--precision fp16 and bf16: weights in that type, float32 interface, contracts checked, recorded', async () => {
    const size = (precision: 'fp32' | 'fp16' | 'bf16') =>
      convert({ dino: join(FIX, 'dinov2/vit-tiny.pth'), out: join(work, `typed-${precision}`), precision, dinoSize: 56 }).then((r) => {
        expect(r.components.dinoEncoder.precision).toBe(precision);
        const m = JSON.parse(readFileSync(join(work, `typed-${precision}`, 'hrseg.json'), 'utf8'));
        expect(m.components.dinoEncoder.precision).toBe(precision);
        return r.components.dinoEncoder.bytes;
      });
    const fp32 = await size('fp32');
    // Half the bytes, give or take the float32 norms; bf16 also keeps the patch convolution float32
    // (opset 17's Conv has no bf16): 27 % of this tiny model's weights, 0.2 % of ViT-L's.
    expect((await size('fp16')) / fp32).toBeLessThan(0.55);
    expect((await size('bf16')) / fp32).toBeLessThan(0.7);
    await expect(convert({ dino: join(FIX, 'dinov2/vit-tiny.pth'), out: join(work, 'typed-x'), precision: 'fp8' as 'fp16' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('ONNX external data', () => {
  it('a graph saved with its weights in a .data file runs the same as one saved inline', async () => {
    const ck = openCheckpoint(join(FIX, 'dinov2/vit-tiny.pth'));
    const { graph } = buildDinov2(ck, { viewSize: 56 });
    const inline = join(work, 'inline.onnx'),
      external = join(work, 'external.onnx');
    expect((await graph.save(inline, { externalData: false })).external).toBe(false);
    const saved = await graph.save(external, { externalData: true });
    ck.close();
    expect(saved.external).toBe(true);
    expect(existsSync(`${external}.data`)).toBe(true);
    expect(readFileSync(external).length).toBeLessThan(readFileSync(inline).length / 10);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 3 * 56 * 56 }, (_, i) => Math.sin(i)),
      [1, 3, 56, 56],
    );
    const a = await ort.InferenceSession.create(inline),
      b = await ort.InferenceSession.create(external);
    const ya = (await a.run({ pixel_values: x })).patch_tokens.data as Float32Array;
    const yb = (await b.run({ pixel_values: x })).patch_tokens.data as Float32Array;
    expect(Buffer.from(yb.buffer).equals(Buffer.from(ya.buffer))).toBe(true);
    await Promise.all([a.release(), b.release()]);
    // An abort during an external-data write stops it and leaves no partial files.
    const c = new AbortController();
    const ck2 = openCheckpoint(join(FIX, 'dinov2/vit-tiny.pth'));
    const again = buildDinov2(ck2, { viewSize: 56 }).graph;
    const stopped = join(work, 'stopped.onnx');
    await expect(again.save(stopped, { externalData: true, signal: c.signal, onProgress: () => c.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    ck2.close();
    expect(readdirSync(work).filter((f) => f.startsWith('stopped'))).toEqual([]);
  });
});

describe('hrseg convert (CLI)', () => {
  const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
  it('--random writes a random-weight DINOv2 at the real ViT-S/14 size, marked as not trained', async () => {
    const out = join(work, 'random');
    const { stdout, stderr } = await run(process.execPath, [cli, 'convert', '--random', 'dinov2-vits14', '--base', base, '--out', out], { maxBuffer: 1 << 24 });
    expect(stdout).toMatch(/dinoEncoder: dino\/encoder\.onnx \(\d+\.\d MiB, fp32\) from random:dinov2-vits14/);
    expect(stderr).toMatch(/checking dino\/encoder\.onnx against the dino\/encoder contract/);
    const m = JSON.parse(readFileSync(join(out, 'hrseg.json'), 'utf8'));
    expect(m.trained).toBe(false);
    expect(m.description).toMatch(/Random weights at real sizes/);
    expect(m.head.featureDim).toBe(384);
    const info = await run(process.execPath, [cli, 'info', '--model', out]);
    expect(info.stdout).toMatch(/component dinoEncoder: dino\/encoder\.onnx from random:dinov2-vits14 \(fp32, \d+\.\d MiB\)/);
    const bad = await run(process.execPath, [cli, 'convert', '--random', 'dinov9', '--out', join(work, 'r2')]).catch((x) => x);
    expect(bad.code).toBe(2);
  }, 120_000);
});
