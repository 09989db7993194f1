/**
 * `buildEngines()` and `hrseg build-engines`: TensorRT engines for this GPU from a model package.
 * Each component is built from an ONNX file of the requested precision (TensorRT 11 builds
 * strongly typed networks): the package's own file when it has that precision, else a typed
 * variant written beside the engines (onnx/typed.ts); the head's two graphs are written from
 * head.safetensors. Engines whose sidecar record still matches are reused unless `force`; each
 * plan is written through a temporary file, and the sidecar is rewritten after every engine, so
 * an interrupted build keeps what it finished and never leaves half a file.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { abortError } from '../abort.js';
import { HrsegError, awaitNative, callNative } from '../errors.js';
import { GraphBuilder } from '../onnx/graph.js';
import { checkPrecision, typedGraph, type Precision } from '../onnx/typed.js';
import { ONNX_COMPONENT_FILES } from '../engines/contracts.js';
import { native } from '../native.js';
import { writeAtomic } from '../output.js';
import { readPackage, type ModelPackage } from '../package/manifest.js';
import type { Quantization } from '../convert/types.js';
import { runtimeInfo } from '../runtime.js';
import { openCheckpoint } from '../checkpoint/index.js';
import { HEAD_GRAPH_OPSET, checkpointHeadWeights, headImageGraph, headInstructionGraph } from './head-graph.js';
import { SIDECAR_FILE, SIDECAR_VERSION, engineDirName, fileSignature, readSidecar, sidecarDifferences, type EngineTarget, type Sidecar } from './sidecar.js';
import { engineSpecs, planFile, type EngineSpec, type SpecOptions } from './specs.js';

export interface BuildEnginesOptions extends SpecOptions {
  model: string;
  precision?: Precision;
  /** CUDA device ordinal (default 0). */
  gpu?: number;
  /** TensorRT's workspace limit in MiB (default: TensorRT's own, all device memory). */
  workspaceMiB?: number;
  /** Rebuild engines whose sidecar record still matches. */
  force?: boolean;
  /** Only these components (e.g. ['head/image']); default all. */
  components?: string[];
  signal?: AbortSignal;
  onProgress?: (event: BuildProgress) => void;
}

export interface BuildProgress {
  component: string;
  /** 1-based position among the engines of this build, and their count. */
  index: number;
  count: number;
  state: 'preparing' | 'building' | 'reused' | 'built';
  /** TensorRT's phase, its step and step count, and its nesting depth (while building). */
  phase?: string;
  step?: number;
  steps?: number;
  depth?: number;
}

export interface BuildEnginesResult {
  dir: string;
  built: string[];
  reused: string[];
}

/** The GPU, TensorRT version and hrseg version engines are bound to; DEVICE_UNAVAILABLE when there is none. */
export function engineTarget(precision: Precision, gpu = 0, info = runtimeInfo()): EngineTarget {
  const trt = info.tensorrt;
  if (!trt.loadable || !trt.version) throw new HrsegError('DEVICE_UNAVAILABLE', `TensorRT is not available: ${trt.reason ?? 'unknown reason'}`);
  const device = info.cuda.devices.find((d) => d.index === gpu);
  if (!device)
    throw new HrsegError(
      'DEVICE_UNAVAILABLE',
      `GPU ${gpu} is not available: ${info.cuda.reason ?? `this machine has ${info.cuda.devices.length} CUDA device(s)`}`,
    );
  const uuid = callNative(() => native().trtDeviceUuid(gpu));
  return { gpu: { name: device.name, computeCapability: device.computeCapability, uuid }, tensorrt: trt.version, precision, hrseg: info.version };
}

export function rebuildCommand(model: string, precision: Precision, gpu = 0): string {
  return `hrseg build-engines --model ${model} --precision ${precision}${gpu ? ` --gpu ${gpu}` : ''}`;
}

/** Writes the ONNX file an engine is built from (a typed variant or a head graph) and returns its path. */
async function onnxFor(pkg: ModelPackage, spec: EngineSpec, precision: Precision, dir: string): Promise<string> {
  if (spec.generated) {
    const ck = openCheckpoint(join(pkg.dir, spec.source));
    try {
      const weights = checkpointHeadWeights(ck);
      const g = spec.generated === 'head-image' ? headImageGraph(weights, pkg.head, { plugins: true }) : headInstructionGraph(weights, pkg.head);
      const file = join(dir, 'onnx', `${spec.generated}.onnx`);
      await mkdir(join(dir, 'onnx'), { recursive: true });
      await typedGraph(g, precision).save(file, { opset: HEAD_GRAPH_OPSET, producer: 'hrseg build-engines' });
      return file;
    } finally {
      ck.close();
    }
  }
  const source = join(pkg.dir, spec.source);
  const has = (pkg.manifest.components?.[keyOf(spec.component)]?.precision as Precision | undefined) ?? 'fp32';
  if (has === precision) return source;
  if (has !== 'fp32')
    throw new HrsegError(
      'INVALID_ARGUMENT',
      `${spec.source} is ${has}; an ${precision} engine needs an fp32 source to convert from (or build with --precision ${has})`,
    );
  const bytes = await readFile(source);
  let g: GraphBuilder;
  try {
    g = GraphBuilder.decode(bytes);
  } catch (cause) {
    throw new HrsegError('INVALID_ARGUMENT', `${spec.source}: ${(cause as Error).message}; convert the package with --precision ${precision} instead`, {
      cause,
    });
  }
  const file = join(dir, 'onnx', `${spec.component.replace(/\//g, '-')}.${precision}.onnx`);
  await mkdir(join(dir, 'onnx'), { recursive: true });
  await typedGraph(g, precision).save(file, { producer: 'hrseg build-engines' });
  return file;
}

/** The manifest's key of an engine spec's component ('sam/encoder' → 'samEncoder'). */
function keyOf(component: string): string {
  return Object.entries(ONNX_COMPONENT_FILES).find(([, c]) => c === component)?.[0] ?? '';
}

export async function buildEngines(options: BuildEnginesOptions): Promise<BuildEnginesResult> {
  const precision = options.precision ?? 'fp16';
  checkPrecision(precision);
  const gpu = options.gpu ?? 0;
  if (!Number.isInteger(gpu) || gpu < 0) throw new HrsegError('INVALID_ARGUMENT', `gpu must be a device ordinal, got ${gpu}`);
  const pkg = await readPackage(options.model);
  let specs = await engineSpecs(pkg, options);
  if (options.components) {
    const unknown = options.components.filter((c) => !specs.some((s) => s.component === c));
    if (unknown.length)
      throw new HrsegError('INVALID_ARGUMENT', `unknown components ${unknown.join(', ')} (known: ${specs.map((s) => s.component).join(', ')})`);
    specs = specs.filter((s) => options.components!.includes(s.component));
  }
  // Checked before TensorRT is looked for: the package, not this machine, is what cannot be built.
  const cpuOnly = specs.filter((s) => (pkg.manifest.components?.[keyOf(s.component)]?.quantization as Quantization | undefined)?.activations);
  if (cpuOnly.length)
    throw new HrsegError(
      'INVALID_ARGUMENT',
      `${cpuOnly.map((s) => s.source).join(', ')}: converted with --quantize-vision int8 (int8 activations in ONNX Runtime's CPU-only DynamicQuantizeMatMul), which TensorRT cannot build; convert without --quantize-vision for GPU engines, or build the other components with --component`,
    );
  const info = runtimeInfo();
  const target = engineTarget(precision, gpu, info);
  const cannot = info.tensorrt.buildReason;
  if (cannot) throw new HrsegError('DEVICE_UNAVAILABLE', `TensorRT cannot build engines here: ${cannot}`);
  const dir = join(pkg.dir, 'engines', engineDirName(target));
  await mkdir(dir, { recursive: true });
  const rebuild = rebuildCommand(options.model, precision, gpu);
  const previous = await readSidecar(dir, rebuild).catch(() => undefined);
  const sameTarget = previous && previous.tensorrt === target.tensorrt && previous.hrseg === target.hrseg && previous.gpu.name === target.gpu.name;
  const sidecar: Sidecar = { version: SIDECAR_VERSION, ...target, builtAt: new Date().toISOString(), engines: sameTarget ? { ...previous.engines } : {} };
  const result: BuildEnginesResult = { dir, built: [], reused: [] };
  for (const [i, spec] of specs.entries()) {
    if (options.signal?.aborted) throw abortError(options.signal);
    const base = { component: spec.component, index: i + 1, count: specs.length };
    const record = sidecar.engines[spec.component];
    const plan = planFile(spec.component);
    // Reused when the check a segmenter makes before opening it passes and the profiles are the same.
    if (
      !options.force &&
      record &&
      JSON.stringify(record.profiles) === JSON.stringify(spec.profiles) &&
      (await sidecarDifferences(dir, sidecar, target, pkg.dir, [spec.component])).length === 0
    ) {
      options.onProgress?.({ ...base, state: 'reused' });
      result.reused.push(spec.component);
      continue;
    }
    options.onProgress?.({ ...base, state: 'preparing' });
    const onnxFile = await onnxFor(pkg, spec, precision, dir);
    const cancel = new (native().CancelHandle)();
    const onAbort = () => cancel.cancel();
    options.signal?.addEventListener('abort', onAbort);
    const t0 = performance.now();
    try {
      await awaitNative(
        native().trtBuild(
          {
            onnx: onnxFile,
            plan: join(dir, plan),
            timingCache: join(dir, 'timing.cache'),
            device: gpu,
            ...(options.workspaceMiB ? { workspaceBytes: options.workspaceMiB * 2 ** 20 } : {}),
            profiles: spec.profiles,
          },
          (phase, step, steps, depth) => options.onProgress?.({ ...base, state: 'building', phase, step, steps, depth }),
          cancel,
        ),
      );
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    const planBytes = (await stat(join(dir, plan))).size;
    sidecar.engines[spec.component] = {
      plan,
      planBytes,
      onnx: spec.source,
      source: await fileSignature(join(pkg.dir, spec.source)),
      profiles: spec.profiles,
      buildSeconds: (performance.now() - t0) / 1000,
    };
    await writeAtomic(join(dir, SIDECAR_FILE), JSON.stringify(sidecar, null, 2));
    options.onProgress?.({ ...base, state: 'built' });
    result.built.push(spec.component);
  }
  await writeAtomic(join(dir, SIDECAR_FILE), JSON.stringify(sidecar, null, 2));
  return result;
}
