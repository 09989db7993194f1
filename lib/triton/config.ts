/**
 * config.pbtxt for one component, derived from its tensor contract (lib/engines/contracts.ts) with
 * the sizes the package's manifest fixes: a symbol the manifest does not fix is -1 (dynamic).
 */
import { CONTRACTS, type Component } from '../engines/contracts.js';
import type { Dim, TensorSpec } from '../engines/types.js';
import { componentEntry } from '../package/components.js';
import type { ModelPackage } from '../package/manifest.js';
import type { DType } from '../tensor.js';
import { modelName, type ModelIdentity } from './names.js';

export type TritonBackend = 'python' | 'onnxruntime' | 'tensorrt';
export const TRITON_BACKENDS: readonly TritonBackend[] = ['python', 'onnxruntime', 'tensorrt'];

const TYPES: Partial<Record<DType, string>> = {
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  int64: 'TYPE_INT64',
  int32: 'TYPE_INT32',
  uint8: 'TYPE_UINT8',
  bool: 'TYPE_BOOL',
};

/**
 * Components whose every input and output leads with the same batch dimension, so that Triton's
 * dynamic batcher may stack requests from several clients: DINOv2's views. SAM's decoders lead
 * with a point (or [SEG]) batch B but take the image embedding as [1, …]: one request carries the
 * embedding once with all of its prompts, and stacking requests would stack embeddings too.
 */
const BATCH_DIM: Partial<Record<Component, string>> = { 'dino/encoder': 'V' };
/** The most views one batched execution takes: 1 + 4² crops and a global view from two front ends. */
const MAX_BATCH = 64;

export interface ConfigOptions {
  backend: TritonBackend;
  /** Instances per model (instance_group count). */
  instances: number;
  /** KIND_CPU for the python backend in CI; KIND_GPU for onnxruntime/tensorrt on a GPU server. */
  kind: 'KIND_CPU' | 'KIND_GPU';
  /** The ONNX file (python, onnxruntime) or plan (tensorrt) in the version folder. */
  file: string;
  /** How long the dynamic batcher holds a request for others to join it (µs, default 2000). */
  queueDelayUs?: number;
}

export interface ComponentConfig {
  name: string;
  /** Leading batch dimension handled by Triton (max_batch_size > 0). */
  batched: boolean;
  text: string;
}

function dims(spec: TensorSpec, bound: Readonly<Record<string, number>>, batched: boolean): number[] {
  const out = spec.dims.map((d: Dim) => (typeof d === 'number' ? d : (bound[d] ?? -1)));
  return batched ? out.slice(1) : out;
}

function tensorText(kind: 'input' | 'output', spec: TensorSpec, shape: number[]): string {
  const type = TYPES[spec.dtype];
  if (!type) throw new Error(`no Triton type for ${spec.dtype}`);
  return `  { name: "${spec.name}" data_type: ${type} dims: [ ${shape.join(', ')} ] }`;
}

export function componentConfig(pkg: ModelPackage, component: Component, identity: ModelIdentity, options: ConfigOptions): ComponentConfig {
  const contract = CONTRACTS[component]!;
  const bound = componentEntry(component).bindings?.(pkg) ?? {};
  const batchSymbol = BATCH_DIM[component];
  const batched = batchSymbol !== undefined;
  const name = modelName(component);
  const lines = [
    `# Written by hrseg export-triton from ${identity.hrseg_package} (${identity.hrseg_file}); the contract is lib/engines/contracts.ts.`,
    `name: "${name}"`,
    options.backend === 'python' ? 'backend: "python"' : options.backend === 'onnxruntime' ? 'backend: "onnxruntime"' : 'backend: "tensorrt"',
  ];
  if (options.backend !== 'python') lines.push(`default_model_filename: "${options.file}"`);
  lines.push(`max_batch_size: ${batched ? MAX_BATCH : 0}`);
  lines.push('input [', contract.inputs.map((s) => tensorText('input', s, dims(s, bound, batched))).join(',\n'), ']');
  lines.push('output [', contract.outputs.map((s) => tensorText('output', s, dims(s, bound, batched))).join(',\n'), ']');
  // A short queue delay lets requests from several front ends meet in one execution.
  if (batched) lines.push(`dynamic_batching { max_queue_delay_microseconds: ${options.queueDelayUs ?? 2000} }`);
  lines.push(`instance_group [ { kind: ${options.kind} count: ${options.instances} } ]`);
  const params: Record<string, string> = { ...identity };
  if (options.backend === 'python') params.onnx_file = options.file;
  lines.push('parameters [');
  lines.push(
    Object.entries(params)
      .map(([k, v]) => `  { key: "${k}" value: { string_value: "${v.replace(/["\\]/g, '\\$&')}" } }`)
      .join(',\n'),
  );
  lines.push(']');
  return { name, batched, text: lines.join('\n') + '\n' };
}

export interface DecoderConfigOptions {
  file: string;
  shape: { layers: number; heads: number; headDim: number };
  /** Bytes of caches the server keeps before it evicts the least recently used (MiB). */
  kvBudgetMiB: number;
  /** Seconds a cache may sit unused before it is evicted. */
  kvIdleSeconds: number;
}

/**
 * The stateful VLM decoder (kv.ts): one instance, since the caches live in it; the cache travels as
 * an id (past_id in, present_id out), with the ids the client no longer needs in drop_ids.
 */
export function decoderConfig(identity: ModelIdentity, options: DecoderConfigOptions): ComponentConfig {
  const name = modelName('vlm/decoder');
  const params: Record<string, string> = {
    ...identity,
    onnx_file: options.file,
    kv_layers: String(options.shape.layers),
    kv_heads: String(options.shape.heads),
    kv_head_dim: String(options.shape.headDim),
    kv_budget_mib: String(options.kvBudgetMiB),
    kv_idle_s: String(options.kvIdleSeconds),
  };
  const text = [
    `# Written by hrseg export-triton from ${identity.hrseg_package} (${identity.hrseg_file}): the VLM decoder, its key/value caches kept in the server.`,
    `name: "${name}"`,
    'backend: "python"',
    'max_batch_size: 0',
    'input [',
    '  { name: "inputs_embeds" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] },',
    '  { name: "position_ids" data_type: TYPE_INT64 dims: [ 1, -1 ] },',
    '  { name: "past_id" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "drop_ids" data_type: TYPE_INT64 dims: [ -1 ] }',
    ']',
    'output [',
    '  { name: "logits" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] },',
    '  { name: "hidden" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] },',
    '  { name: "present_id" data_type: TYPE_INT64 dims: [ 1 ] }',
    ']',
    // One instance: a cache lives in the instance that made it.
    'instance_group [ { kind: KIND_CPU count: 1 } ]',
    'parameters [',
    Object.entries(params)
      .map(([k, v]) => `  { key: "${k}" value: { string_value: "${v.replace(/["\\]/g, '\\$&')}" } }`)
      .join(',\n'),
    ']',
  ].join('\n');
  return { name, batched: false, text: text + '\n' };
}
