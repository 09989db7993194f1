import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

import { HrsegError } from '../lib/errors.js';
import { OnnxEngine, checkContract } from '../lib/engines/index.js';
import { ortFailure } from '../lib/engines/onnx-runtime.js';
import { tensor } from '../lib/tensor.js';
import { GraphBuilder } from '../lib/onnx/graph.js';
import { tinySamDecoder } from '../scripts/models/tiny-sam.js';

const dir = mkdtempSync(join(tmpdir(), 'hrseg-engines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** An "encoder" that maps its input through Identity-like ops to the given output declaration. */
function encoderLike(inDims: (number | string)[], outDims: (number | string)[], names = { input: 'image', output: 'image_embeddings' }) {
  const g = new GraphBuilder();
  const x = g.input(names.input, 'float', inDims);
  g.op('AveragePool', [x], { kernel_shape: [16, 16], strides: [16, 16] }, ['pooled']);
  const w = new Float32Array(256 * 3).fill(0.01);
  g.op('Conv', ['pooled', g.float('w', [256, 3, 1, 1], w)], {}, [names.output]);
  g.output(names.output, 'float', outDims);
  return g.encode();
}

async function loadError(file: string, component: string, bindings?: Record<string, number>): Promise<HrsegError> {
  const error = await OnnxEngine.load(file, component, { bindings }).then(
    async (e) => {
      await e.dispose();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HrsegError);
  return error as HrsegError;
}

describe('ONNX Runtime engine', () => {
  it('loads a file that meets its contract and runs it on borrowed tensors', async () => {
    const file = write('decoder.onnx', tinySamDecoder());
    const engine = await OnnxEngine.load(file, 'sam/decoder');
    expect(engine.inputs.map((t) => t.name)).toEqual(['image_embeddings', 'point_coords', 'point_labels']);
    expect(engine.outputs.find((t) => t.name === 'low_res_masks')?.dims).toEqual(['B', 3, 256, 256]);
    const out = await engine.run({
      image_embeddings: tensor('float32', [1, 256, 64, 64]),
      point_coords: tensor('float32', [2, 1, 2], Float32Array.from([8, 8, 500, 900])),
      point_labels: tensor('float32', [2, 1], Float32Array.from([1, 1])),
    });
    expect(out.low_res_masks.dims).toEqual([2, 3, 256, 256]);
    expect(out.low_res_masks.location).toBe('cpu');
    const iou = await out.iou_predictions.host();
    expect(Array.from(iou.data as Float32Array).map((v) => +v.toFixed(2))).toEqual([0.95, 0.97, 0.5, 0.95, 0.97, 0.5]);
    // Engine values can be fed straight to another run (a GPU engine would keep them on the device).
    const again = await engine.run({
      image_embeddings: tensor('float32', [1, 256, 64, 64]),
      point_coords: tensor('float32', [1, 1, 2]),
      point_labels: tensor('float32', [1, 1], Float32Array.from([1])),
    });
    expect(again.iou_predictions.dims).toEqual([1, 3]);
    await engine.dispose();
    await expect(engine.run({})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /disposed/ });
  });

  it('names the file, the tensor, what was expected and what was found', async () => {
    const file = write('bad-out.onnx', encoderLike([1, 3, 1024, 1024], [1, 256, 64, 64], { input: 'image', output: 'embeddings' }));
    const e = await loadError(file, 'sam/encoder');
    expect(e.code).toBe('MODEL_FILE');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/output 'image_embeddings' is missing \(expected float32\[1, 256, 64, 64\]; the file has 'embeddings'\)/);
    expect(e.message).toMatch(/unexpected output 'embeddings'/);
  });

  it('reports a wrong fixed dim, a wrong rank and a manifest binding, all at once', async () => {
    const wrongSize = write('wrong-size.onnx', encoderLike([1, 3, 512, 512], [1, 256, 32, 32]));
    const e = await loadError(wrongSize, 'sam/encoder', { S: 1024 });
    expect(e.message).toMatch(/input 'image': dim 2 \(S\) is 512, but S = 1024 from the manifest/);
    expect(e.message).toMatch(/output 'image_embeddings': dim 2 expected 64, found 32/);

    const g = new GraphBuilder();
    g.input('image', 'float', [3, 1024, 1024]);
    g.op('Identity', ['image'], {}, ['image_embeddings']);
    g.output('image_embeddings', 'float', [3, 1024, 1024]);
    const rank = await loadError(write('rank.onnx', g.encode()), 'sam/encoder');
    expect(rank.message).toMatch(/input 'image': expected rank 4 float32\[1, 3, S, S\], found rank 3/);
  });

  it('reports a wrong dtype', async () => {
    const g = new GraphBuilder();
    g.input('pixel_values', 'int64', [1, 3, 518, 518]);
    g.op('Cast', ['pixel_values'], { to: 1 }, ['patch_tokens']);
    g.output('patch_tokens', 'float', [1, 3, 518, 518]);
    const e = await loadError(write('dtype.onnx', g.encode()), 'dino/encoder');
    expect(e.message).toMatch(/input 'pixel_values': expected dtype float32, found int64/);
  });

  it('missing, empty and corrupt files', async () => {
    expect((await loadError(join(dir, 'nope.onnx'), 'sam/encoder')).message).toMatch(/not found.*nope\.onnx/);
    const corrupt = await loadError(write('corrupt.onnx', new TextEncoder().encode('definitely not protobuf')), 'sam/encoder');
    expect(corrupt.code).toBe('MODEL_FILE');
    expect(corrupt.message).toMatch(/corrupt\.onnx could not be loaded/);
    expect((await loadError(write('empty.onnx', new Uint8Array(0)), 'sam/encoder')).code).toBe('MODEL_FILE');
  });

  it('run checks feeds: missing input, dtype, fixed dims, abort', async () => {
    const engine = await OnnxEngine.load(write('dec2.onnx', tinySamDecoder()), 'sam/decoder');
    const feeds = {
      image_embeddings: tensor('float32', [1, 256, 64, 64]),
      point_coords: tensor('float32', [1, 1, 2]),
      point_labels: tensor('float32', [1, 1]),
    };
    await expect(engine.run({ ...feeds, point_labels: undefined as never })).rejects.toMatchObject({
      code: 'INVALID_TENSOR',
      message: /'point_labels' was not given/,
    });
    await expect(engine.run({ ...feeds, image_embeddings: tensor('float32', [1, 256, 32, 64]) })).rejects.toMatchObject({
      code: 'INVALID_TENSOR',
      message: /shape \[1, 256, 32, 64\]/,
    });
    await expect(engine.run({ ...feeds, point_coords: tensor('int32', [1, 1, 2]) })).rejects.toMatchObject({
      code: 'INVALID_TENSOR',
    });
    const c = new AbortController();
    c.abort();
    await expect(engine.run(feeds, { signal: c.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    await engine.dispose();
  });

  it("provider 'cuda' falls back to the CPU with the reason when ONNX Runtime has no CUDA provider", async () => {
    const engine = await OnnxEngine.load(write('dec3.onnx', tinySamDecoder()), 'sam/decoder', { provider: 'cuda' });
    if (engine.provider === 'cuda') {
      expect(engine.fallbackReason).toBeUndefined(); // a machine with the GPU provider installed
    } else {
      expect(engine.fallbackReason).toMatch(/CUDA provider/);
    }
    const out = await engine.run({
      image_embeddings: tensor('float32', [1, 256, 64, 64]),
      point_coords: tensor('float32', [1, 1, 2]),
      point_labels: tensor('float32', [1, 1], Float32Array.from([1])),
    });
    expect(out.iou_predictions.dims).toEqual([1, 3]);
    await engine.dispose();
  });

  it('checkContract accepts dynamic dims and the VLM cache tensors', () => {
    const f = (name: string, dims: (number | string)[]) => ({ name, dtype: 'float32' as const, dims });
    expect(() =>
      checkContract('x.onnx', 'vlm/decoder', {
        inputs: [f('inputs_embeds', [1, 'seq', 64]), { name: 'position_ids', dtype: 'int64', dims: [1, 'seq'] }, f('past.0.key', [1, 2, 'p', 16])],
        outputs: [f('logits', [1, 'seq', 100]), f('hidden', [1, 'seq', 64]), f('present.0.key', [1, 2, 'q', 16])],
      }),
    ).not.toThrow();
    expect(() =>
      checkContract('x.onnx', 'vlm/decoder', {
        inputs: [f('inputs_embeds', [1, 'seq', 64]), { name: 'position_ids', dtype: 'int64', dims: [1, 'seq'] }],
        outputs: [f('logits', [1, 'seq', 100]), f('hidden', [1, 'seq', 32])],
      }),
    ).toThrow(/dim 2 \(H\) is 32, but H = 64 from input 'inputs_embeds'/);
  });
  it('ONNX Runtime running out of memory is OUT_OF_MEMORY; its other failures keep their code', async () => {
    // A real allocation failure: ConstantOfShape asked for 2^48 floats.
    const g = new GraphBuilder();
    g.input('shape', 'int64', [4]);
    g.op('ConstantOfShape', ['shape'], {}, ['y']);
    g.output('y', 'float', ['a', 'b', 'c', 'd']);
    const session = await ort.InferenceSession.create(g.encode());
    const shape = new ort.Tensor('int64', BigInt64Array.from([4096n, 4096n, 4096n, 4096n]), [4]);
    const cause = await session.run({ shape }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await session.release();
    expect(cause).toBeInstanceOf(Error);
    const oom = ortFailure('INTERNAL', 'dino/encoder (x.onnx) failed to run', cause);
    expect(oom.code).toBe('OUT_OF_MEMORY');
    expect(oom.message).toMatch(/^dino\/encoder \(x\.onnx\) failed to run: .*Failed to allocate memory/);
    expect(oom.cause).toBe(cause);
    // A failure that is not about memory keeps the caller's code.
    const other = await ort.InferenceSession.create(new TextEncoder().encode('not protobuf')).catch((e: unknown) => e);
    expect(ortFailure('MODEL_FILE', 'x.onnx could not be loaded by ONNX Runtime', other).code).toBe('MODEL_FILE');
  });
});
