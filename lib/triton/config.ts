/**
 * config.pbtxt for one component, derived from its tensor contract (lib/engines/contracts.ts) with
 * the sizes the package's manifest fixes: a symbol the manifest does not fix is -1 (dynamic).
 */
import { CONTRACTS, type Component } from '../engines/contracts.js';
import type { Dim, TensorSpec } from '../engines/types.js';
import { componentEntry } from '../package/components.js';
import type { ModelPackage } from '../package/manifest.js';
import type { DType } from '../tensor.js';
import { GENERATE_MODEL_NAME, modelName, type ModelIdentity } from './names.js';

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
  lines.push(...parametersBlock(params));
  return { name, batched, text: lines.join('\n') + '\n' };
}

export interface DecoderConfigOptions {
  file: string;
  shape: { layers: number; heads: number; headDim: number };
  /** Bytes of caches each instance keeps before it evicts the least recently used (MiB). */
  kvBudgetMiB: number;
  /** Seconds a cache, and Triton's sequence holding it, may sit unused before it is evicted. */
  kvIdleSeconds: number;
  /** Instances of the decoder: each holds the caches of the sequences routed to it. */
  instances: number;
  /** How long the sequence batcher holds a step for other sequences' steps to join it (µs). */
  queueDelayUs: number;
}

/** The decoder protocol the client expects (decoder.ts checks it): 2 = sequence-batched, by correlation id. */
export const KV_PROTOCOL = '2';
/** Steps of different sequences one execution takes. */
const DECODER_MAX_BATCH = 8;
/**
 * Sequences the batcher keeps live at once per model; one is a prepared image (or a segment() in
 * flight) of some front end. Beyond it, new sequences wait until one ends or idles out.
 */
const MAX_SEQUENCES = 4096;

/**
 * The stateful VLM decoder (kv.ts). The cache travels as an id (past_id in, present_id out), with
 * the ids the client no longer needs in drop_ids. Triton's sequence batcher, strategy "oldest",
 * keeps all requests of one correlation id (one image's prefix and every instruction forked from
 * it) on one instance, the one holding its caches, while steps of different sequences share
 * executions. Its idle timeout is the caches' own: Triton's default of 1 s would forget a prepared
 * image within a second; and a sequence Triton forgot is one whose caches the model drops too.
 */
export function decoderConfig(identity: ModelIdentity, options: DecoderConfigOptions): ComponentConfig {
  const name = modelName('vlm/decoder');
  const params: Record<string, string> = {
    ...identity,
    onnx_file: options.file,
    kv_protocol: KV_PROTOCOL,
    kv_layers: String(options.shape.layers),
    kv_heads: String(options.shape.heads),
    kv_head_dim: String(options.shape.headDim),
    kv_budget_mib: String(options.kvBudgetMiB),
    kv_idle_s: String(options.kvIdleSeconds),
  };
  const idleUs = Math.max(1, Math.round(options.kvIdleSeconds * 1e6));
  const text = [
    `# Written by hrseg export-triton from ${identity.hrseg_package} (${identity.hrseg_file}): the VLM decoder, its key/value caches kept in the server.`,
    `name: "${name}"`,
    'backend: "python"',
    // Each request is one step of batch 1; the batch dimension is for the sequence batcher.
    `max_batch_size: ${DECODER_MAX_BATCH}`,
    'input [',
    // Ragged: steps of different lengths (a prefix, a suffix, one token) may share an execution.
    '  { name: "inputs_embeds" data_type: TYPE_FP32 dims: [ -1, -1 ] allow_ragged_batch: true },',
    '  { name: "position_ids" data_type: TYPE_INT64 dims: [ -1 ] allow_ragged_batch: true },',
    '  { name: "past_id" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "drop_ids" data_type: TYPE_INT64 dims: [ -1 ] allow_ragged_batch: true }',
    ']',
    'output [',
    '  { name: "logits" data_type: TYPE_FP32 dims: [ -1, -1 ] },',
    '  { name: "hidden" data_type: TYPE_FP32 dims: [ -1, -1 ] },',
    '  { name: "present_id" data_type: TYPE_INT64 dims: [ 1 ] },',
    // The instance's caches, their bytes, prefixes computed and caches evicted: what tests and operators read.
    '  { name: "kv_stats" data_type: TYPE_INT64 dims: [ 4 ] }',
    ']',
    'sequence_batching {',
    `  max_sequence_idle_microseconds: ${idleUs}`,
    '  control_input [',
    '    { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },',
    '    { name: "END" control [ { kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] } ] }',
    '  ]',
    `  oldest { max_candidate_sequences: ${MAX_SEQUENCES} max_queue_delay_microseconds: ${options.queueDelayUs} }`,
    '}',
    `instance_group [ { kind: KIND_CPU count: ${options.instances} } ]`,
    ...parametersBlock(params),
  ].join('\n');
  return { name, batched: true, text: text + '\n' };
}

export interface GenerateConfigOptions {
  /** The embedding table's file, copied beside model.py, and its tensor (default: its only 2-D one). */
  embeddingsFile: string;
  embeddingsTensor?: string;
  /** Instances of the loop; each runs any number of streams (a thread each), so 1 is enough. */
  instances: number;
}

/**
 * The greedy loop in the server, streaming one response per token (generate.ts): decoupled, so it
 * is reached by gRPC's ModelStreamInfer only. Not sequence-batched itself: its steps are BLS
 * requests to hrseg_vlm_decoder under the prefix's correlation id (given as `sequence_id`), and it
 * is the decoder's sequence batcher that routes them to the instance holding the prefix.
 * It speaks the decoder's key/value protocol (kv_protocol), which the client checks on both.
 */
export function generateConfig(identity: ModelIdentity, options: GenerateConfigOptions): ComponentConfig {
  const name = GENERATE_MODEL_NAME;
  const params: Record<string, string> = {
    ...identity,
    kv_protocol: KV_PROTOCOL,
    decoder_model: modelName('vlm/decoder'),
    embeddings_file: options.embeddingsFile,
    ...(options.embeddingsTensor ? { embeddings_tensor: options.embeddingsTensor } : {}),
  };
  const text = [
    `# Written by hrseg export-triton from ${identity.hrseg_package} (${identity.hrseg_file}): the VLM's greedy loop, one response per token.`,
    `name: "${name}"`,
    'backend: "python"',
    'max_batch_size: 0',
    'model_transaction_policy { decoupled: true }',
    'input [',
    // The instruction's suffix, where it starts, and the prefix it extends (a cache id in a sequence).
    '  { name: "inputs_embeds" data_type: TYPE_FP32 dims: [ 1, -1, -1 ] },',
    '  { name: "position_start" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "past_id" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "sequence_id" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "drop_ids" data_type: TYPE_INT64 dims: [ -1 ] },',
    '  { name: "max_new_tokens" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "stop_ids" data_type: TYPE_INT64 dims: [ -1 ] },',
    '  { name: "seg_id" data_type: TYPE_INT64 dims: [ 1 ] }',
    ']',
    'output [',
    // Per token: its id, and its hidden state where it is [SEG] (else empty).
    '  { name: "token_id" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "hidden" data_type: TYPE_FP32 dims: [ -1 ] },',
    // The final response: why it stopped (1 a stop id, 2 the limit) and the caches it left behind.
    '  { name: "stop" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "leftover_ids" data_type: TYPE_INT64 dims: [ -1 ] }',
    ']',
    `instance_group [ { kind: KIND_CPU count: ${options.instances} } ]`,
    ...parametersBlock(params),
  ].join('\n');
  return { name, batched: false, text: text + '\n' };
}

/** A config's `parameters [...]` lines: string values, quoted for protobuf's text format. */
function parametersBlock(params: Record<string, string>): string[] {
  return [
    'parameters [',
    Object.entries(params)
      .map(([k, v]) => `  { key: "${k}" value: { string_value: "${v.replace(/["\\]/g, '\\$&')}" } }`)
      .join(',\n'),
    ']',
  ];
}
