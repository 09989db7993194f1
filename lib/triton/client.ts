/**
 * A KServe v2 gRPC client for Triton Inference Server: binary tensors only (raw_input_contents and
 * raw_output_contents), message limits raised (one SAM image embedding is 4 MiB, gRPC's default
 * limit), a deadline on every call, an AbortSignal that cancels the call, and gRPC's failures as
 * HrsegErrors: a server that is gone or too slow is UNAVAILABLE, never a hang.
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';

import { abortError } from '../abort.js';
import { HrsegError, type HrsegErrorCode } from '../errors.js';
import { elementCount, type DType, type Tensor } from '../tensor.js';
import { KSERVE_V2 } from './kserve.js';

/** KServe's datatype names for hrseg's dtypes (the ones the contracts use). */
const DATATYPES: Partial<Record<DType, string>> = { float32: 'FP32', float16: 'FP16', int64: 'INT64', int32: 'INT32', uint8: 'UINT8', bool: 'BOOL' };
const DTYPES = new Map(Object.entries(DATATYPES).map(([k, v]) => [v, k as DType]));
const BYTES: Record<string, number> = { FP32: 4, FP16: 2, INT64: 8, INT32: 4, UINT8: 1, BOOL: 1 };

export const dtypeOfDatatype = (datatype: string): DType | undefined => DTYPES.get(datatype);
export const datatypeOf = (dtype: DType): string | undefined => DATATYPES[dtype];

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}
export interface ModelConfigSummary {
  name: string;
  backend: string;
  maxBatchSize: number;
  parameters: Record<string, string>;
}
export interface ModelStats {
  /** Successful requests. */
  requestCount: number;
  /** Inferences: a request of batch 5 counts 5. */
  inferenceCount: number;
  /** Model executions: fewer than requests when the dynamic batcher merged requests. */
  executionCount: number;
  /** Failed requests. */
  failCount: number;
}

export interface TritonClientOptions {
  /** Every call's deadline, in ms (default 60 000): a server that does not answer by then is UNAVAILABLE. */
  deadlineMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  deadlineMs?: number;
}

/** A request's place in a sequence, for a model with a sequence batcher: KServe's sequence parameters. */
export interface SequenceFlags {
  /** The correlation id, non-zero (Triton reserves 0 for "no sequence"). */
  id: bigint;
  start?: boolean;
  end?: boolean;
}

export interface InferOptions extends CallOptions {
  sequence?: SequenceFlags;
}

// Larger than any tensor a component exchanges (SAM-H's embedding is 4 MiB, 16 DINOv2 views at
// 896² are 150 MiB); gRPC's default of 4 MiB refuses the first SAM embedding.
const MESSAGE_LIMIT = 1 << 30;
/** Longest a call waits for a reconnecting channel (above the 2 s ceiling of the reconnect backoff). */
const RECONNECT_WAIT_MS = 3000;

type Unary = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  done: (error: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

let serviceCtor: grpc.ServiceClientConstructor | undefined;
function service(): grpc.ServiceClientConstructor {
  if (!serviceCtor) {
    const definition = fromJSON(KSERVE_V2, { longs: Number, enums: String, defaults: true, keepCase: true });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
    serviceCtor = loaded.inference.GRPCInferenceService;
  }
  return serviceCtor;
}

/** 'host:port', 'grpc://host:port' → 'host:port'; anything else is refused here rather than by gRPC later. */
export function grpcTarget(url: string): string {
  if (typeof url !== 'string' || url === '') throw new HrsegError('INVALID_ARGUMENT', "triton.url: expected 'host:port' (Triton's gRPC port, 8001 by default)");
  const m = /^(?:grpc:\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(url);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new HrsegError('INVALID_ARGUMENT', `triton.url: expected 'host:port' or 'grpc://host:port' (Triton's gRPC port), got '${url}'`);
  return `${m[1]}:${m[2]}`;
}

const CODES: Partial<Record<grpc.status, HrsegErrorCode>> = {
  [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'UNAVAILABLE',
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_TENSOR',
  [grpc.status.NOT_FOUND]: 'ENGINE_MISMATCH',
  [grpc.status.RESOURCE_EXHAUSTED]: 'OUT_OF_MEMORY',
};

export class TritonClient {
  readonly target: string;
  readonly #client: grpc.Client;
  readonly #deadlineMs: number;

  constructor(url: string, options: TritonClientOptions = {}) {
    this.target = grpcTarget(url);
    const deadline = options.deadlineMs ?? 60_000;
    if (!Number.isFinite(deadline) || deadline <= 0)
      throw new HrsegError('INVALID_ARGUMENT', `triton.deadlineMs must be a positive number of ms, got ${deadline}`);
    this.#deadlineMs = deadline;
    const Service = service();
    this.#client = new Service(this.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MESSAGE_LIMIT,
      'grpc.max_send_message_length': MESSAGE_LIMIT,
      // A server that restarts is reconnected to promptly rather than after gRPC's backoff grows.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Its own connection rather than grpc-js's process-wide pool: close() then closes the socket.
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  #call<T>(method: string, request: unknown, what: string, options: CallOptions = {}): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const deadlineMs = options.deadlineMs ?? this.#deadlineMs;
    // gRPC fails a call at once while its channel waits out a reconnect backoff: after a server
    // restart the first calls would fail although it is back. While the channel is reconnecting a
    // call waits for it, up to a bound: a server that is really gone is still UNAVAILABLE soon.
    const state = this.#client.getChannel().getConnectivityState(true);
    if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.CONNECTING) {
      const until = Date.now() + Math.min(deadlineMs, RECONNECT_WAIT_MS);
      return new Promise<void>((resolve) => this.#client.waitForReady(until, () => resolve())).then(() =>
        this.#send<T>(method, request, what, options, deadlineMs),
      );
    }
    return this.#send<T>(method, request, what, options, deadlineMs);
  }

  #send<T>(method: string, request: unknown, what: string, options: CallOptions, deadlineMs: number): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      const fn = (this.#client as unknown as Record<string, Unary>)[method]!.bind(this.#client);
      let call: grpc.ClientUnaryCall | undefined = undefined;
      const onAbort = () => call?.cancel();
      call = fn(request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (!error) return resolve(response as T);
        if (signal?.aborted) return reject(abortError(signal));
        reject(this.#failure(error, what, deadlineMs));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #failure(error: grpc.ServiceError, what: string, deadlineMs: number): HrsegError {
    const code = CODES[error.code] ?? 'INTERNAL';
    const why =
      error.code === grpc.status.DEADLINE_EXCEEDED
        ? `no answer within ${deadlineMs} ms`
        : error.code === grpc.status.UNAVAILABLE
          ? `the server is unavailable (${error.details})`
          : error.details || error.message;
    return new HrsegError(code, `Triton at ${this.target}: ${what}: ${why}`, { cause: error });
  }

  async serverReady(options?: CallOptions): Promise<boolean> {
    return (await this.#call<{ ready: boolean }>('ServerReady', {}, 'server ready', options)).ready;
  }

  async modelMetadata(name: string, options?: CallOptions): Promise<ModelMetadata> {
    return await this.#call<ModelMetadata>('ModelMetadata', { name, version: '' }, `model '${name}'`, options);
  }

  async modelConfig(name: string, options?: CallOptions): Promise<ModelConfigSummary> {
    const r = await this.#call<{ config: { name: string; backend: string; max_batch_size: number; parameters: Record<string, { string_value: string }> } }>(
      'ModelConfig',
      { name, version: '' },
      `model '${name}' config`,
      options,
    );
    const c = r.config;
    return {
      name: c.name,
      backend: c.backend,
      maxBatchSize: c.max_batch_size,
      parameters: Object.fromEntries(Object.entries(c.parameters ?? {}).map(([k, v]) => [k, v.string_value])),
    };
  }

  async modelStats(name: string, options?: CallOptions): Promise<ModelStats> {
    const r = await this.#call<{
      model_stats: { inference_count: number; execution_count: number; inference_stats?: { success?: { count: number }; fail?: { count: number } } }[];
    }>('ModelStatistics', { name, version: '' }, `model '${name}' statistics`, options);
    const s = r.model_stats[0];
    return {
      requestCount: Number(s?.inference_stats?.success?.count ?? 0),
      inferenceCount: Number(s?.inference_count ?? 0),
      executionCount: Number(s?.execution_count ?? 0),
      failCount: Number(s?.inference_stats?.fail?.count ?? 0),
    };
  }

  /** Runs `model` on named host tensors; every output comes back as a host tensor. */
  async infer(model: string, inputs: Readonly<Record<string, Tensor>>, outputs: readonly string[], options?: InferOptions): Promise<Record<string, Tensor>> {
    const response = await this.#call<InferResponseMessage>('ModelInfer', inferRequest(model, inputs, outputs, options), `${model} inference`, options);
    return this.#outputs(model, response);
  }

  /**
   * Runs a decoupled `model` (several responses to one request) over gRPC's bidirectional
   * ModelStreamInfer: one stream per request, its responses yielded as they arrive, the last one
   * marked `final` (Triton's triton_final_response; an empty final response is asked for, so the
   * end is always seen). The deadline bounds the wait for each response, not the whole stream: a
   * long answer is not cut off, a server that stops answering is UNAVAILABLE within it. The signal,
   * or leaving the loop early, cancels the stream (Triton then cancels the request; the model sees
   * it as cancelled).
   */
  async *stream(
    model: string,
    inputs: Readonly<Record<string, Tensor>>,
    outputs: readonly string[],
    options: InferOptions = {},
  ): AsyncGenerator<{ outputs: Record<string, Tensor>; final: boolean }, void> {
    const { signal } = options;
    const what = `${model} stream`;
    if (signal?.aborted) throw abortError(signal);
    const deadlineMs = options.deadlineMs ?? this.#deadlineMs;
    const request = inferRequest(model, inputs, outputs, options);
    request.parameters = { ...request.parameters, triton_enable_empty_final_response: { bool_param: true } };
    await this.#ready(deadlineMs);
    if (signal?.aborted) throw abortError(signal);
    const open = (
      this.#client as unknown as Record<string, (metadata: grpc.Metadata) => grpc.ClientDuplexStream<unknown, StreamMessage>>
    ).ModelStreamInfer!.bind(this.#client);
    const call = open(new grpc.Metadata());
    // What the stream said, in order, and who waits for it.
    const queue: StreamMessage[] = [];
    let failed: HrsegError | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    let timedOut = false;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        call.cancel();
      }, deadlineMs);
    };
    const onAbort = () => call.cancel();
    call.on('data', (m: StreamMessage) => {
      arm();
      queue.push(m);
      notify();
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (signal?.aborted) failed = abortError(signal);
      else if (timedOut) failed = this.#failure({ ...e, code: grpc.status.DEADLINE_EXCEEDED }, what, deadlineMs);
      else failed = this.#failure(e, what, deadlineMs);
      notify();
    });
    call.on('end', () => {
      ended = true;
      notify();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    arm();
    let done = false;
    try {
      call.write(request);
      for (;;) {
        const m = queue.shift();
        if (m) {
          if (m.error_message) throw new HrsegError('INTERNAL', `Triton at ${this.target}: ${what}: ${m.error_message}`);
          const response = m.infer_response;
          if (!response) continue;
          const final = response.parameters?.triton_final_response?.bool_param === true;
          yield { outputs: response.outputs?.length ? this.#outputs(model, response) : {}, final };
          if (final) {
            done = true;
            return;
          }
          continue;
        }
        if (failed) throw failed;
        if (ended) throw new HrsegError('UNAVAILABLE', `Triton at ${this.target}: ${what}: the stream ended before the model's final response`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (done) call.end();
      else call.cancel();
    }
  }

  /** While the channel is reconnecting (after a server restart), waits for it, bounded (as #call does). */
  async #ready(deadlineMs: number): Promise<void> {
    const state = this.#client.getChannel().getConnectivityState(true);
    if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.CONNECTING) {
      const until = Date.now() + Math.min(deadlineMs, RECONNECT_WAIT_MS);
      await new Promise<void>((resolve) => this.#client.waitForReady(until, () => resolve()));
    }
  }

  #outputs(model: string, response: InferResponseMessage): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    response.outputs.forEach((o, i) => {
      const dtype = DTYPES.get(o.datatype);
      const bytes = response.raw_output_contents[i];
      const dims = o.shape.map(Number);
      if (!dtype || !bytes || bytes.byteLength !== elementCount(dims) * (BYTES[o.datatype] ?? 0))
        throw new HrsegError(
          'INTERNAL',
          `Triton at ${this.target}: ${model} output '${o.name}' came back as ${o.datatype}[${dims.join(', ')}] with ${bytes?.byteLength ?? 0} bytes`,
        );
      out[o.name] = { dtype, dims, data: typedView(dtype, bytes) } as Tensor;
    });
    return out;
  }

  close(): void {
    this.#client.close();
  }
}

interface InferResponseMessage {
  outputs: TensorMetadata[];
  raw_output_contents: Buffer[];
  parameters?: Record<string, { bool_param?: boolean }>;
}
interface StreamMessage {
  error_message?: string;
  infer_response?: InferResponseMessage | null;
}

type Parameters = Record<string, { int64_param?: string; bool_param?: boolean }>;

/** A ModelInferRequest: tensors as raw bytes (views of the tensors' own memory: no copy before gRPC serializes them). */
function inferRequest(
  model: string,
  inputs: Readonly<Record<string, Tensor>>,
  outputs: readonly string[],
  options?: InferOptions,
): { model_name: string; model_version: string; inputs: unknown[]; outputs: unknown[]; raw_input_contents: Buffer[]; parameters?: Parameters } {
  const tensors: { name: string; datatype: string; shape: number[] }[] = [];
  const raw: Buffer[] = [];
  for (const [name, t] of Object.entries(inputs)) {
    const datatype = DATATYPES[t.dtype];
    if (!datatype) throw new HrsegError('INVALID_TENSOR', `${model}: input '${name}' is ${t.dtype}, which Triton's protocol has no binary form for here`);
    tensors.push({ name, datatype, shape: [...t.dims] });
    raw.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return {
    model_name: model,
    model_version: '',
    inputs: tensors,
    outputs: outputs.map((name) => ({ name })),
    raw_input_contents: raw,
    ...(options?.sequence ? { parameters: sequenceParameters(options.sequence) } : {}),
  };
}

function sequenceParameters(s: SequenceFlags): Parameters {
  if (s.id <= 0n) throw new HrsegError('INVALID_ARGUMENT', `a sequence's correlation id must be positive, got ${s.id}`);
  return {
    // As a decimal string: protobufjs takes int64 so without a precision loss above 2^53.
    sequence_id: { int64_param: s.id.toString() },
    ...(s.start ? { sequence_start: { bool_param: true } } : {}),
    ...(s.end ? { sequence_end: { bool_param: true } } : {}),
  };
}

/** A typed array over the bytes, copied once when gRPC's buffer is not aligned for the type. */
function typedView(dtype: DType, bytes: Buffer): Tensor['data'] {
  const copy = (n: number) => (bytes.byteOffset % n === 0 ? bytes : Buffer.from(bytes));
  switch (dtype) {
    case 'float32': {
      const b = copy(4);
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    }
    case 'int32': {
      const b = copy(4);
      return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    }
    case 'int64': {
      const b = copy(8);
      return new BigInt64Array(b.buffer, b.byteOffset, b.byteLength / 8);
    }
    case 'float16':
    case 'bfloat16': {
      const b = copy(2);
      return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
    }
    default:
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
