/**
 * Writes a Triton model repository for a package: one model per served component (names.ts), each
 * `<out>/<model>/config.pbtxt` and `<out>/<model>/1/<file>`:
 *   python       the component's ONNX file and model.py (ONNX Runtime inside the python backend:
 *                what CI runs against a real tritonserver on the CPU)
 *   onnxruntime  the ONNX file as model.onnx for Triton's onnxruntime backend (NGC containers)
 *   tensorrt     config only; the plan (model.plan) is built on the serving GPU (docs/triton.md)
 * The repository is written to a sibling folder and renamed into place, so it is whole or absent.
 */
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import type { Component } from '../engines/contracts.js';
import { HrsegError } from '../errors.js';
import { componentEntry } from '../package/components.js';
import type { ModelPackage } from '../package/manifest.js';
import { componentConfig, decoderConfig, generateConfig, TRITON_BACKENDS, type TritonBackend } from './config.js';
import { GENERATE_MODEL } from './generate.js';
import { cacheShape, DECODER_MODEL } from './kv.js';
import { modelIdentity, servedComponents } from './names.js';
import { PYTHON_MODEL } from './python-model.js';

export interface ExportOptions {
  backend?: TritonBackend;
  /** Instances per model (default 1). */
  instances?: number;
  /** Replace an existing folder at `out`. */
  force?: boolean;
  /** python backend: the VLM decoder's server-side key/value caches, MiB kept before LRU eviction (default 4096). */
  kvBudgetMiB?: number;
  /** python backend: seconds an unused cache is kept (default 600). */
  kvIdleSeconds?: number;
  /** The dynamic batcher's max_queue_delay_microseconds for the batched models (default 2000). */
  queueDelayUs?: number;
}

export interface ExportedModel {
  component: Component;
  name: string;
  batched: boolean;
}

/** The ONNX file and the files beside it that it names as external data (`<file>.data` and the like). */
async function onnxFiles(file: string): Promise<string[]> {
  const dir = dirname(file);
  const base = basename(file);
  const names = await readdir(dir);
  return [file, ...names.filter((n) => n !== base && n.startsWith(`${base}.`)).map((n) => join(dir, n))];
}

export async function exportTritonRepository(pkg: ModelPackage, outInput: string, options: ExportOptions = {}): Promise<ExportedModel[]> {
  const backend = options.backend ?? 'python';
  if (!TRITON_BACKENDS.includes(backend))
    throw new HrsegError('INVALID_ARGUMENT', `backend must be ${TRITON_BACKENDS.map((b) => `'${b}'`).join(', ')}, got '${String(backend)}'`);
  const instances = options.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1 || instances > 64)
    throw new HrsegError('INVALID_ARGUMENT', `instances must be an integer from 1 to 64, got ${instances}`);
  const queueDelayUs = options.queueDelayUs ?? 2000;
  if (!Number.isInteger(queueDelayUs) || queueDelayUs < 0 || queueDelayUs > 10_000_000)
    throw new HrsegError('INVALID_ARGUMENT', `queueDelayUs must be an integer from 0 to 10 000 000 µs, got ${queueDelayUs}`);
  const kvBudgetMiB = options.kvBudgetMiB ?? 4096;
  const kvIdleSeconds = options.kvIdleSeconds ?? 600;
  if (!Number.isInteger(kvBudgetMiB) || kvBudgetMiB < 0) throw new HrsegError('INVALID_ARGUMENT', `kvBudgetMiB must be an integer ≥ 0, got ${kvBudgetMiB}`);
  if (!(kvIdleSeconds > 0)) throw new HrsegError('INVALID_ARGUMENT', `kvIdleSeconds must be positive, got ${kvIdleSeconds}`);
  const out = resolve(outInput);
  if ((await stat(out).catch(() => undefined)) && !options.force)
    throw new HrsegError('INVALID_ARGUMENT', `${out} already exists (pass --force to replace it)`);
  const partial = `${out}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  const models: ExportedModel[] = [];
  try {
    for (const component of servedComponents(pkg)) {
      const source = pkg.files[componentEntry(component).file];
      const file = backend === 'python' ? basename(source) : backend === 'onnxruntime' ? 'model.onnx' : 'model.plan';
      const identity = await modelIdentity(pkg, component);
      const config = componentConfig(pkg, component, identity, {
        backend,
        instances,
        kind: backend === 'python' ? 'KIND_CPU' : 'KIND_GPU',
        file,
        queueDelayUs,
      });
      const version = join(partial, config.name, '1');
      await mkdir(version, { recursive: true });
      await writeFile(join(partial, config.name, 'config.pbtxt'), config.text);
      if (backend === 'python') {
        await writeFile(join(version, 'model.py'), PYTHON_MODEL);
        for (const f of await onnxFiles(source)) await copyFile(f, join(version, basename(f)));
      } else if (backend === 'onnxruntime') {
        // External data keeps the name the graph records: copied beside model.onnx under it.
        const [graph, ...data] = await onnxFiles(source);
        await copyFile(graph!, join(version, file));
        for (const f of data) await copyFile(f, join(version, basename(f)));
      }
      models.push({ component, name: config.name, batched: config.batched });
    }
    if (backend === 'python') {
      // The decoder with its caches kept in the server: only the python backend can hold them.
      const source = pkg.files.vlmDecoder;
      const shape = await cacheShape(source, pkg.vlm);
      const config = decoderConfig(await modelIdentity(pkg, 'vlm/decoder'), {
        file: basename(source),
        shape,
        kvBudgetMiB,
        kvIdleSeconds,
        instances,
        queueDelayUs,
      });
      const version = join(partial, config.name, '1');
      await mkdir(version, { recursive: true });
      await writeFile(join(partial, config.name, 'config.pbtxt'), config.text);
      await writeFile(join(version, 'model.py'), DECODER_MODEL);
      for (const f of await onnxFiles(source)) await copyFile(f, join(version, basename(f)));
      models.push({ component: 'vlm/decoder', name: config.name, batched: config.batched });
      // The greedy loop beside it, streaming tokens; it needs the embedding table for each new token.
      const embeddings = pkg.files.vlmEmbeddings;
      const generate = generateConfig(await modelIdentity(pkg, 'vlm/decoder'), {
        embeddingsFile: basename(embeddings),
        ...(pkg.vlm.embeddingsTensor ? { embeddingsTensor: pkg.vlm.embeddingsTensor } : {}),
        instances: 1,
      });
      const generateVersion = join(partial, generate.name, '1');
      await mkdir(generateVersion, { recursive: true });
      await writeFile(join(partial, generate.name, 'config.pbtxt'), generate.text);
      await writeFile(join(generateVersion, 'model.py'), GENERATE_MODEL);
      await copyFile(embeddings, join(generateVersion, basename(embeddings)));
      models.push({ component: 'vlm/decoder', name: generate.name, batched: generate.batched });
    }
    await rm(out, { recursive: true, force: true });
    await rename(partial, out);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  return models;
}
