import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { readPackage } from '../lib/package/manifest.js';
import { createSegmenter } from '../lib/segmenter.js';
import { GraphBuilder } from '../lib/onnx/graph.js';
import { demoPackage } from './helpers/demo.js';

const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(dirname(d), { recursive: true, force: true })));
function fresh(): string {
  const d = demoPackage();
  made.push(d);
  return d;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests reach into any field of hrseg.json
function editManifest(dir: string, edit: (m: Record<string, any>) => void) {
  const p = join(dir, 'hrseg.json');
  const m = JSON.parse(readFileSync(p, 'utf8'));
  edit(m);
  writeFileSync(p, JSON.stringify(m));
}
async function problem(p: Promise<unknown>): Promise<HrsegError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HrsegError);
  expect((e as HrsegError).code).toBe('MODEL_FILE');
  return e as HrsegError;
}

describe('model package', () => {
  it('reads the demo package with every default filled in', async () => {
    const dir = fresh();
    const pkg = await readPackage(dir);
    expect(pkg.trained).toBe(false);
    expect(pkg.files.head).toBe(join(dir, 'head.safetensors'));
    expect(pkg.proposals).toMatchObject({ pointsPerSide: 16, pointsPerBatch: 64, predIouThreshold: 0.88, maxProposals: 50 });
    expect(pkg.head).toMatchObject({ dim: 16, featureDim: 16, globalGrid: 37, gamma: 0.8 });
    expect(pkg.vlm.template.roles).toEqual(['USER', 'ASSISTANT']);
    expect(pkg.views.sam.size).toBe(1024);
  });

  it('the llm-seg preset fills SPEC section 11, hrseg.json still wins, and every value says where it came from', async () => {
    const dir = fresh();
    let pkg = await readPackage(dir);
    expect(pkg.preset).toBe('hrseg');
    expect(pkg.head).toMatchObject({
      hrp: true,
      hreLayers: 2,
      maskResize: 'bilinear-antialias',
      selection: { strategy: 'topk-sim-iop', k: 10, tau: 0.7, fallback: 'top1-sim' },
    });
    expect(pkg.settings['head.maskResize']).toEqual({ value: 'bilinear-antialias', source: 'default' });
    expect(pkg.settings['head.featureDim']).toEqual({ value: 16, source: 'hrseg.json' });
    editManifest(dir, (m) => {
      m.preset = 'llm-seg';
      delete m.head.globalGrid;
      delete m.head.magnification;
    });
    pkg = await readPackage(dir);
    expect(pkg.preset).toBe('llm-seg');
    expect(pkg.views.dino.size).toBe(896);
    expect(pkg.head).toMatchObject({ globalGrid: 64, hrp: false, hreLayers: 0, maskResize: 'bilinear-antialias', poolSize: 256 });
    expect(pkg.head.selection).toEqual({ strategy: 'iop-threshold', k: 10, tau: 0.5, fallback: 'none' });
    expect(pkg.vlm.mode).toBe('teacher-forced');
    expect(pkg.vlm.template.sentence).toBe('<image>\n {query} Please output segmentation mask.');
    expect(pkg.vlm.template.roles).toEqual(['USER', 'ASSISTANT']); // the rest of the template stays
    expect(pkg.settings['head.hrp']).toEqual({ value: false, source: 'preset llm-seg' });
    expect(pkg.settings['head.selection.k']).toEqual({ value: 10, source: 'default' });
    expect(pkg.settings['views.dino.size'].source).toBe('preset llm-seg');
    // Any value can still be set: hrseg.json beats the preset, leaf by leaf.
    editManifest(dir, (m) => {
      m.head.selection = { tau: 0.6 };
      m.vlm.mode = 'generate';
    });
    pkg = await readPackage(dir);
    expect(pkg.head.selection).toEqual({ strategy: 'iop-threshold', k: 10, tau: 0.6, fallback: 'none' });
    expect(pkg.settings['head.selection.tau']).toEqual({ value: 0.6, source: 'hrseg.json' });
    expect(pkg.settings['head.selection.strategy'].source).toBe('preset llm-seg');
    expect(pkg.vlm.mode).toBe('generate');
    // A grid that no longer matches the preset's view is caught.
    editManifest(dir, (m) => (m.head.globalGrid = 37));
    expect((await problem(readPackage(dir))).message).toMatch(/\/head\/globalGrid: 37, but the DINOv2 view 896 \/ patch 14 gives 64/);
    editManifest(dir, (m) => (m.preset = 'lisa-v0'));
    expect((await problem(readPackage(dir))).message).toMatch(/\/preset: must be equal to one of the allowed values \(hrseg, llm-seg, lisa\)/);
    // lisa is a preset, and its runtime reads other files: a package of the others lacks its decoder.
    editManifest(dir, (m) => (m.preset = 'lisa'));
    expect((await problem(readPackage(dir))).message).toMatch(/sam\/prompt-decoder\.onnx \(\/files\/samPromptDecoder\) is missing/);
  });

  it('reports every schema problem at once, naming the field', async () => {
    const dir = fresh();
    editManifest(dir, (m) => {
      m.head.gamma = 2;
      m.proposals.cropLayers = 1;
      m.colour = 'red';
      m.vlm.mode = 'guess';
    });
    const e = await problem(readPackage(dir));
    expect(e.message).toMatch(/4 problems/);
    expect(e.message).toMatch(/\/head\/gamma: must be <= 1/);
    expect(e.message).toMatch(/\/proposals\/cropLayers: must be equal to constant \(0\)/);
    expect(e.message).toMatch(/must NOT have additional properties 'colour'/);
    expect(e.message).toMatch(/\/vlm\/mode: must be equal to one of the allowed values \(generate, teacher-forced\)/);
  });

  it('broken JSON, a newer version, a missing manifest, a missing directory', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'hrseg.json'), '{ "format": "hrseg-model", ');
    expect((await problem(readPackage(dir))).message).toMatch(/hrseg\.json is not valid JSON/);
    editManifest(fresh(), () => {});
    const newer = fresh();
    editManifest(newer, (m) => (m.version = 7));
    expect((await problem(readPackage(newer))).message).toMatch(/version 7 is newer than this hrseg reads \(1\)/);
    const none = fresh();
    unlinkSync(join(none, 'hrseg.json'));
    expect((await problem(readPackage(none))).message).toMatch(/hrseg\.json not found/);
    expect((await problem(readPackage(join(none, 'nope')))).message).toMatch(/not found/);
  });

  it('names every missing, empty or escaping file, and a grid that does not match the view', async () => {
    const dir = fresh();
    unlinkSync(join(dir, 'head.safetensors'));
    unlinkSync(join(dir, 'vlm/tokenizer.json'));
    writeFileSync(join(dir, 'sam/decoder.onnx'), '');
    editManifest(dir, (m) => {
      m.files = { dinoEncoder: '../../etc/passwd' };
      m.head.globalGrid = 36;
    });
    const e = await problem(readPackage(dir));
    expect(e.message).toMatch(/head\.safetensors \(\/files\/head\) is missing/);
    expect(e.message).toMatch(/vlm\/tokenizer\.json \(\/files\/tokenizer\) is missing/);
    expect(e.message).toMatch(/sam\/decoder\.onnx \(\/files\/samDecoder\) is empty/);
    expect(e.message).toMatch(/\/files\/dinoEncoder: '..\/..\/etc\/passwd' leaves the package directory/);
    expect(e.message).toMatch(/\/head\/globalGrid: 36, but the DINOv2 view 518 \/ patch 14 gives 37/);
  });

  it('createSegmenter reports every file that fails to load, at once', async () => {
    const dir = fresh();
    // An encoder for 512² inputs (the manifest says 1024) and a decoder that is not ONNX.
    const g = new GraphBuilder();
    g.input('image', 'float', [1, 3, 512, 512]);
    g.op('AveragePool', ['image'], { kernel_shape: [8, 8], strides: [8, 8] }, ['p']);
    g.op('Conv', ['p', g.float('w', [256, 3, 1, 1], new Float32Array(768))], {}, ['image_embeddings']);
    g.output('image_embeddings', 'float', [1, 256, 64, 64]);
    writeFileSync(join(dir, 'sam/encoder.onnx'), g.encode());
    writeFileSync(join(dir, 'dino/encoder.onnx'), 'garbage');
    editManifest(dir, (m) => (m.head.hiddenSize = 64));
    const e = await problem(createSegmenter({ model: dir }));
    expect(e.message).toMatch(/sam\/encoder\.onnx does not match the sam\/encoder contract/);
    expect(e.message).toMatch(/dim 2 \(S\) is 512, but S = 1024 from the manifest/);
    expect(e.message).toMatch(/dino\/encoder\.onnx could not be loaded/);
    expect(e.message).toMatch(/text_hidden_fcs|hiddenSize/);
  });
});
