/** `hrseg export-triton`'s repository, without a server: what each config.pbtxt says and which files sit beside it. */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { UsageError } from '../lib/cli/args.js';
import { exportTritonCommand } from '../lib/cli/export-triton.js';
import { HrsegError } from '../lib/errors.js';
import { readPackage } from '../lib/package/manifest.js';
import type { TritonClient } from '../lib/triton/client.js';
import { RemoteDecoder } from '../lib/triton/decoder.js';
import { modelIdentity } from '../lib/triton/names.js';
import { PYTHON_PREAMBLE } from '../lib/triton/python-model.js';
import { exportTritonRepository } from '../lib/triton/repository.js';
import { demoPackage } from './helpers/demo.js';

const work = mkdtempSync(join(tmpdir(), 'hrseg-triton-export-'));
const packages = { hrseg: demoPackage('hrseg'), lisa: demoPackage('lisa') };
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  for (const p of Object.values(packages)) rmSync(dirname(p), { recursive: true, force: true });
});
const config = (repo: string, model: string) => readFileSync(join(repo, model, 'config.pbtxt'), 'utf8');

describe('export-triton', () => {
  it('python: one model per network with its contract, the package identity, model.py and the ONNX file', async () => {
    const repo = join(work, 'python');
    const models = await exportTritonRepository(await readPackage(packages.hrseg), repo);
    expect(models.map((m) => m.name)).toEqual([
      'hrseg_sam_encoder',
      'hrseg_sam_decoder',
      'hrseg_dino_encoder',
      'hrseg_vlm_vision',
      'hrseg_vlm_decoder',
      'hrseg_vlm_generate',
    ]);
    expect(readdirSync(repo).sort()).toEqual([
      'hrseg_dino_encoder',
      'hrseg_sam_decoder',
      'hrseg_sam_encoder',
      'hrseg_vlm_decoder',
      'hrseg_vlm_generate',
      'hrseg_vlm_vision',
    ]);
    // The greedy loop beside the decoder, streaming tokens: decoupled (reached by ModelStreamInfer
    // only), not sequence-batched itself (its steps go to the decoder under the prefix's id), with
    // the package's embedding table beside its model.py and the decoder's protocol.
    const generate = config(repo, 'hrseg_vlm_generate');
    expect(generate).toContain('model_transaction_policy { decoupled: true }');
    expect(generate).not.toContain('sequence_batching');
    expect(generate).toContain('{ key: "kv_protocol" value: { string_value: "2" } }');
    expect(generate).toContain('{ key: "decoder_model" value: { string_value: "hrseg_vlm_decoder" } }');
    expect(generate).toContain('{ key: "embeddings_file" value: { string_value: "embed_tokens.safetensors" } }');
    expect(generate).toMatch(/key: "hrseg_component" value: \{ string_value: "vlm\/decoder" \}/);
    expect(readdirSync(join(repo, 'hrseg_vlm_generate', '1')).sort()).toEqual(['embed_tokens.safetensors', 'model.py']);
    expect(
      readFileSync(join(repo, 'hrseg_vlm_generate', '1', 'embed_tokens.safetensors')).equals(
        readFileSync(join(packages.hrseg, 'vlm', 'embed_tokens.safetensors')),
      ),
    ).toBe(true);
    expect(readFileSync(join(repo, 'hrseg_vlm_generate', '1', 'model.py'), 'utf8')).toContain(PYTHON_PREAMBLE);
    // The stateful decoder: sequence-batched by correlation id (a sequence stays on the instance
    // holding its caches), its idle timeout the caches' own (600 s, not Triton's 1 s), the cache
    // shape from the graph.
    const vlm = config(repo, 'hrseg_vlm_decoder');
    expect(vlm).toContain('instance_group [ { kind: KIND_CPU count: 1 } ]');
    expect(vlm).toContain('max_sequence_idle_microseconds: 600000000');
    expect(vlm).toMatch(/oldest \{ max_candidate_sequences: \d+ max_queue_delay_microseconds: 2000 \}/);
    expect(vlm).toContain('{ key: "kv_protocol" value: { string_value: "2" } }');
    expect(vlm).toContain('{ name: "past_id" data_type: TYPE_INT64 dims: [ 1 ] }');
    expect(vlm).toMatch(/key: "kv_layers" value: \{ string_value: "[1-9]\d*" \}/);
    expect(vlm).toContain('{ key: "kv_budget_mib" value: { string_value: "4096" } }');
    const decoderPy = readFileSync(join(repo, 'hrseg_vlm_decoder', '1', 'model.py'), 'utf8');
    expect(decoderPy).toContain('self.caches = OrderedDict()');
    // Both templates begin with the one preamble.
    const modelPy = readFileSync(join(repo, 'hrseg_dino_encoder', '1', 'model.py'), 'utf8');
    expect(decoderPy).toContain(PYTHON_PREAMBLE);
    expect(modelPy).toContain(PYTHON_PREAMBLE);
    // DINOv2's views lead every tensor: Triton batches them (the batch dim leaves dims).
    const dino = config(repo, 'hrseg_dino_encoder');
    expect(dino).toContain('max_batch_size: 64');
    expect(dino).toContain('dynamic_batching');
    expect(dino).toContain('{ name: "pixel_values" data_type: TYPE_FP32 dims: [ 3, 518, 518 ] }');
    expect(dino).toContain('{ name: "patch_tokens" data_type: TYPE_FP32 dims: [ 1369, 16 ] }');
    // SAM's decoder: the point batch is -1 inside one request, the embedding is sent once.
    const decoder = config(repo, 'hrseg_sam_decoder');
    expect(decoder).toContain('max_batch_size: 0');
    expect(decoder).not.toContain('dynamic_batching');
    expect(decoder).toContain('{ name: "point_coords" data_type: TYPE_FP32 dims: [ -1, 1, 2 ] }');
    expect(decoder).toContain('{ name: "image_embeddings" data_type: TYPE_FP32 dims: [ 1, 256, 64, 64 ] }');
    expect(decoder).toMatch(/key: "hrseg_preset" value: \{ string_value: "hrseg" \}/);
    expect(decoder).toMatch(/key: "hrseg_fingerprint" value: \{ string_value: "[0-9a-f]{64}" \}/);
    expect(decoder).toContain('backend: "python"');
    expect(decoder).toContain('instance_group [ { kind: KIND_CPU count: 1 } ]');
    expect(readdirSync(join(repo, 'hrseg_sam_decoder', '1')).sort()).toEqual(['decoder.onnx', 'model.py']);
    // The manifest fixes SAM's view size: no -1 there.
    expect(config(repo, 'hrseg_sam_encoder')).toContain('dims: [ 1, 3, 1024, 1024 ]');
  });

  it("lisa: LISA's prompt decoder instead of the SAM decoder and DINOv2", async () => {
    const repo = join(work, 'lisa');
    const models = await exportTritonRepository(await readPackage(packages.lisa), repo);
    expect(models.map((m) => m.name)).toEqual(['hrseg_sam_encoder', 'hrseg_sam_prompt_decoder', 'hrseg_vlm_vision', 'hrseg_vlm_decoder', 'hrseg_vlm_generate']);
    expect(config(repo, 'hrseg_sam_prompt_decoder')).toContain('{ name: "sparse_embeddings" data_type: TYPE_FP32 dims: [ -1, -1, 256 ] }');
  });

  it('onnxruntime and tensorrt: configs for GPU servers', async () => {
    const pkg = await readPackage(packages.hrseg);
    const ort = join(work, 'ort');
    await exportTritonRepository(pkg, ort, { backend: 'onnxruntime', instances: 2 });
    expect(config(ort, 'hrseg_sam_encoder')).toContain('backend: "onnxruntime"');
    expect(config(ort, 'hrseg_sam_encoder')).toContain('instance_group [ { kind: KIND_GPU count: 2 } ]');
    expect(readdirSync(join(ort, 'hrseg_sam_encoder', '1'))).toEqual(['model.onnx']);
    // No stateful decoder outside the python backend: the VLM decoder then runs in the Node process.
    expect(existsSync(join(ort, 'hrseg_vlm_decoder'))).toBe(false);
    expect(existsSync(join(ort, 'hrseg_vlm_generate'))).toBe(false);
    const trt = join(work, 'trt');
    await exportTritonRepository(pkg, trt, { backend: 'tensorrt' });
    expect(config(trt, 'hrseg_sam_encoder')).toContain('default_model_filename: "model.plan"');
    expect(readdirSync(join(trt, 'hrseg_sam_encoder', '1'))).toEqual([]);
  });

  it('refuses an existing folder without --force, a bad backend and a bad instance count, leaving nothing behind', async () => {
    const pkg = await readPackage(packages.hrseg);
    const repo = join(work, 'python');
    const codes = await Promise.all(
      [
        exportTritonRepository(pkg, repo),
        exportTritonRepository(pkg, join(work, 'x'), { backend: 'tflite' as 'python' }),
        exportTritonRepository(pkg, join(work, 'y'), { instances: 0 }),
      ].map((p) =>
        p.then(
          () => 'ok',
          (e: unknown) => (e instanceof HrsegError ? e.code : String(e)),
        ),
      ),
    );
    expect(codes).toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    expect(existsSync(join(work, 'x')) || existsSync(join(work, 'y'))).toBe(false);
    await exportTritonRepository(pkg, repo, { force: true });
    await expect(exportTritonCommand.run(['--model', packages.hrseg, '--out', join(work, 'z'), '--backend', 'tflite'])).rejects.toBeInstanceOf(UsageError);
  });

  it('a decoder from an hrseg that speaks another key/value protocol is ENGINE_MISMATCH, before any call', async () => {
    const pkg = await readPackage(packages.hrseg);
    const identity = await modelIdentity(pkg, 'vlm/decoder');
    // Only the config is asked for: a stand-in for the server's answer.
    const served = (parameters: Record<string, string>, generate: Record<string, string> = parameters) =>
      ({
        target: '127.0.0.1:1',
        modelConfig: (name: string) =>
          Promise.resolve({
            name,
            backend: 'python',
            maxBatchSize: name === 'hrseg_vlm_decoder' ? 8 : 0,
            parameters: name === 'hrseg_vlm_decoder' ? parameters : generate,
          }),
      }) as unknown as TritonClient;
    const shape = { kv_layers: '2', kv_heads: '2', kv_head_dim: '8' };
    const old = await RemoteDecoder.open(served({ ...identity, ...shape }), pkg, () => undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(old).toBeInstanceOf(HrsegError);
    expect((old as HrsegError).code).toBe('ENGINE_MISMATCH');
    expect((old as HrsegError).message).toMatch(/key\/value protocol 1, this client 2/);
    const current = await RemoteDecoder.open(served({ ...identity, ...shape, kv_protocol: '2' }), pkg, () => undefined);
    expect(current?.provider).toBe('triton');
    expect(current?.streaming, 'the stand-in serves hrseg_vlm_generate too').toBe(true);
    await current?.dispose();
    // The streaming loop beside it is checked the same way.
    const loop = await RemoteDecoder.open(served({ ...identity, ...shape, kv_protocol: '2' }, { ...identity, kv_protocol: '1' }), pkg, () => undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((loop as HrsegError).code).toBe('ENGINE_MISMATCH');
    expect((loop as HrsegError).message).toMatch(/hrseg_vlm_generate speaks key\/value protocol 1, this client 2/);
    // Not wanted (triton.streamTokens: false): not asked for, one call per token.
    const unary = await RemoteDecoder.open(served({ ...identity, ...shape, kv_protocol: '2' }, { kv_protocol: '1' }), pkg, () => undefined, undefined, false);
    expect(unary?.streaming).toBe(false);
    await unary?.dispose();
  });
});
