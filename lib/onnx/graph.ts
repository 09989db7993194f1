/**
 * Builds ONNX models op by op and writes them (onnx-proto's generated protobuf code): the demo
 * and test models and the converter's graphs all go through this one module. Initializers can
 * be given lazily (a function returning their bytes), so a converter writes weights straight from
 * a mapped checkpoint; `save` puts them in an external data file when the model would pass
 * protobuf's 2 GB limit, streaming one tensor at a time.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename } from 'node:path';

import onnxProto from 'onnx-proto';

import { abortError } from '../abort.js';
import { HrsegError } from '../errors.js';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };
type TensorProto = import('onnx-proto').onnx.ITensorProto;

export type ElemType = 'float' | 'float16' | 'bfloat16' | 'double' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8' | 'int4' | 'uint4';

const DataType = onnx.TensorProto.DataType;
export const ELEM_TYPES: Readonly<Record<ElemType, { code: number; size: number }>> = Object.freeze({
  float: { code: DataType.FLOAT, size: 4 },
  float16: { code: DataType.FLOAT16, size: 2 },
  bfloat16: { code: DataType.BFLOAT16, size: 2 },
  double: { code: DataType.DOUBLE, size: 8 },
  int64: { code: DataType.INT64, size: 8 },
  int32: { code: DataType.INT32, size: 4 },
  bool: { code: DataType.BOOL, size: 1 },
  uint8: { code: DataType.UINT8, size: 1 },
  int8: { code: DataType.INT8, size: 1 },
  // ONNX 1.16's 4-bit types (onnx-proto's enum predates them): two per byte, the first element in
  // the low nibble (onnx.proto, TensorProto.raw_data).
  int4: { code: 22, size: 0.5 },
  uint4: { code: 21, size: 0.5 },
});

type Attr = number | number[] | string | { floats: number[] } | { int: number } | { float: number };

/** Weights above this go to external data when `save` is asked for 'auto' (protobuf's limit is 2 GiB). */
export const EXTERNAL_DATA_THRESHOLD = 1.5 * 2 ** 30;
/** Initializers smaller than this stay inline even in an external-data model. */
const EXTERNAL_MIN_BYTES = 1024;

export interface Initializer {
  name: string;
  type: ElemType;
  dims: number[];
  bytes: () => Uint8Array;
  byteLength: number;
  /** Called once the bytes have been written: lets a source drop its pages or copies. */
  release?: () => void;
}

type NodeProto = import('onnx-proto').onnx.INodeProto;
type ValueInfoProto = import('onnx-proto').onnx.IValueInfoProto;

/** A graph's pieces, for passes that rewrite a whole graph (typed.ts). */
export interface GraphParts {
  nodes: NodeProto[];
  inits: Initializer[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
}

/** The ElemType of an ONNX TensorProto.DataType code. */
export function elemTypeOf(code: number): ElemType | undefined {
  return (Object.keys(ELEM_TYPES) as ElemType[]).find((k) => ELEM_TYPES[k].code === code);
}

export interface SaveOptions {
  opset?: number;
  /** 'auto' (default): external data when the weights pass EXTERNAL_DATA_THRESHOLD. */
  externalData?: 'auto' | boolean;
  producer?: string;
  /** Called after each initializer is written: bytes done of total. */
  onProgress?: (done: number, total: number) => void;
  /** Checked between tensors: a long write stops (and removes its partial files) when aborted. */
  signal?: AbortSignal;
}

export class GraphBuilder {
  private nodes: NodeProto[] = [];
  private inits: Initializer[] = [];
  private names = new Set<string>();
  private inputs: ValueInfoProto[] = [];
  private outputs: ValueInfoProto[] = [];
  private counter = 0;

  /** The graph's pieces (shared, not copied). */
  parts(): GraphParts {
    return { nodes: this.nodes, inits: this.inits, inputs: this.inputs, outputs: this.outputs };
  }

  static fromParts(parts: GraphParts): GraphBuilder {
    const g = new GraphBuilder();
    g.nodes = parts.nodes;
    g.inits = parts.inits;
    g.inputs = parts.inputs;
    g.outputs = parts.outputs;
    for (const i of parts.inits) g.names.add(i.name);
    g.counter = parts.nodes.length + parts.inits.length;
    return g;
  }

  /** An inline ONNX model (no external data) as a builder, so passes can rewrite any package file. */
  static decode(bytes: Uint8Array): GraphBuilder {
    const m = onnx.ModelProto.decode(bytes);
    const graph = m.graph;
    if (!graph) throw new HrsegError('MODEL_FILE', 'ONNX model without a graph');
    const inits: Initializer[] = (graph.initializer ?? []).map((t) => {
      const type = elemTypeOf(t.dataType ?? 0);
      if (!type) throw new HrsegError('MODEL_FILE', `ONNX initializer '${t.name}': element type ${t.dataType} is not handled`);
      if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
        throw new HrsegError('MODEL_FILE', `ONNX initializer '${t.name}' is in external data; decode() reads inline models`);
      const dims = (t.dims ?? []).map(Number);
      let raw = t.rawData && t.rawData.length ? t.rawData : undefined;
      if (!raw) {
        // Typed fields (float_data, int64_data, ...) → little-endian bytes.
        if (type === 'float') raw = new Uint8Array(Float32Array.from(t.floatData ?? []).buffer);
        else if (type === 'int64') raw = new Uint8Array(BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(v.toString()))).buffer);
        else if (type === 'int32') raw = new Uint8Array(Int32Array.from(t.int32Data ?? []).buffer);
        else throw new HrsegError('MODEL_FILE', `ONNX initializer '${t.name}': ${type} without raw data is not handled`);
      }
      const bytes = Uint8Array.from(raw);
      return { name: t.name ?? '', type, dims, bytes: () => bytes, byteLength: bytes.length };
    });
    return GraphBuilder.fromParts({ nodes: graph.node ?? [], inits, inputs: graph.input ?? [], outputs: graph.output ?? [] });
  }

  /** A fresh intermediate name. */
  tmp(prefix = 't'): string {
    return `${prefix}_${this.counter++}`;
  }

  input(name: string, elemType: ElemType, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: ElemType, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** An initializer of any element type from its little-endian bytes, given now or on demand (`release` runs once they are written). */
  tensor(name: string, type: ElemType, dims: number[], bytes: Uint8Array | (() => Uint8Array), release?: () => void): string {
    if (this.names.has(name)) throw new HrsegError('INTERNAL', `ONNX graph: initializer '${name}' defined twice`);
    const byteLength = Math.ceil(dims.reduce((a, b) => a * b, 1) * ELEM_TYPES[type].size);
    if (typeof bytes !== 'function' && bytes.length !== byteLength)
      throw new HrsegError('INTERNAL', `ONNX graph: '${name}' [${dims}] ${type} needs ${byteLength} bytes, got ${bytes.length}`);
    this.names.add(name);
    this.inits.push({ name, type, dims, byteLength, bytes: typeof bytes === 'function' ? bytes : () => bytes, release });
    return name;
  }

  float(name: string, dims: number[], data: Float32Array | number[]): string {
    const a = Float32Array.from(data);
    return this.tensor(name, 'float', dims, new Uint8Array(a.buffer));
  }

  /** An int64 constant; `dims` [] makes a scalar. */
  int64(name: string, data: number[], dims: number[] = [data.length]): string {
    const a = BigInt64Array.from(data.map(BigInt));
    return this.tensor(name, 'int64', dims, new Uint8Array(a.buffer));
  }

  /** Adds a node; returns its (first) output name. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs: string[] = [this.tmp(type)], domain?: string): string {
    const attribute = Object.entries(attrs).map(([name, v]) => attr(name, v));
    this.nodes.push({ opType: type, input: inputs, output: outputs, attribute, name: `${type}_${this.counter++}`, ...(domain ? { domain } : {}) });
    return outputs[0];
  }

  /** The declared inputs and outputs: name, element type and dims (numbers fixed, strings symbolic). */
  signature(): {
    inputs: { name: string; type: ElemType | undefined; dims: (number | string)[] }[];
    outputs: { name: string; type: ElemType | undefined; dims: (number | string)[] }[];
  } {
    const sig = (v: ValueInfoProto) => ({
      name: v.name ?? '',
      type: elemTypeOf(v.type?.tensorType?.elemType ?? 0),
      dims: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))),
    });
    return { inputs: this.inputs.map(sig), outputs: this.outputs.map(sig) };
  }

  /** Total bytes of the initializers. */
  get weightBytes(): number {
    return this.inits.reduce((a, i) => a + i.byteLength, 0);
  }

  private model(initializer: TensorProto[], opset: number, producer: string) {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: producer,
      // Custom-op domains (hrseg's TensorRT plugins) are declared at version 1 beside the standard set.
      opsetImport: [
        { domain: '', version: opset },
        ...[...new Set(this.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''))].map((domain) => ({ domain, version: 1 })),
      ],
      graph: { name: 'g', node: this.nodes, initializer, input: this.inputs, output: this.outputs },
    });
  }

  /** The whole model in memory, weights inline (small models; refuses past the 2 GiB limit). */
  encode(opset = 17, producer = 'hrseg'): Uint8Array {
    if (this.weightBytes > EXTERNAL_DATA_THRESHOLD)
      throw new HrsegError('INTERNAL', `ONNX graph: ${this.weightBytes} bytes of weights do not fit one protobuf; use save() (external data)`);
    const inits = this.inits.map((i) => ({ name: i.name, dims: i.dims, dataType: ELEM_TYPES[i.type].code, rawData: i.bytes() }));
    const bytes = onnx.ModelProto.encode(this.model(inits, opset, producer)).finish();
    for (const i of this.inits) i.release?.();
    return bytes;
  }

  /**
   * Writes `path` (and `path`.data when the weights go external), each through a temporary file
   * renamed at the end, so a failure leaves nothing half-written. Weights are written one at a
   * time: only one tensor's bytes are in memory at once, and the event loop gets a turn between
   * tensors, so Ctrl-C and `signal` are heard during a write of many minutes.
   */
  async save(path: string, options: SaveOptions = {}): Promise<{ external: boolean; bytes: number }> {
    const opset = options.opset ?? 17,
      producer = options.producer ?? 'hrseg';
    const total = this.weightBytes;
    const external = options.externalData === true || (options.externalData !== false && total > EXTERNAL_DATA_THRESHOLD);
    if (!external) {
      const bytes = this.encode(opset, producer);
      writeWhole(path, bytes);
      options.onProgress?.(total, total);
      return { external, bytes: bytes.length };
    }
    const dataPath = `${path}.data`,
      location = basename(dataPath);
    const tmpData = `${dataPath}.partial`;
    const fd = openSync(tmpData, 'w');
    const inits: TensorProto[] = [];
    let offset = 0;
    try {
      for (const i of this.inits) {
        await new Promise<void>((r) => setImmediate(r));
        if (options.signal?.aborted) throw abortError(options.signal);
        const b = i.bytes();
        if (b.length !== i.byteLength) throw new HrsegError('INTERNAL', `ONNX graph: '${i.name}' gave ${b.length} bytes, expected ${i.byteLength}`);
        // Small tensors (shapes, axes, scalars) stay inline: shape inference must read them, and
        // ONNX's own converter keeps everything under 1 KiB inline too.
        if (b.length < EXTERNAL_MIN_BYTES) {
          inits.push({ name: i.name, dims: i.dims, dataType: ELEM_TYPES[i.type].code, rawData: b });
          i.release?.();
          continue;
        }
        // Each tensor 64-byte aligned in the data file (mmap-friendly for runtimes that map it).
        const pad = (64 - (offset % 64)) % 64;
        if (pad) writeSync(fd, new Uint8Array(pad));
        offset += pad;
        for (let p = 0; p < b.length;) p += writeSync(fd, b, p, Math.min(b.length - p, 1 << 30));
        inits.push({
          name: i.name,
          dims: i.dims,
          dataType: ELEM_TYPES[i.type].code,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(b.length) },
          ],
        });
        offset += b.length;
        i.release?.();
        options.onProgress?.(offset, total);
      }
    } catch (e) {
      closeSync(fd);
      rmSync(tmpData, { force: true });
      throw e;
    }
    closeSync(fd);
    const bytes = onnx.ModelProto.encode(this.model(inits, opset, producer)).finish();
    renameSync(tmpData, dataPath);
    writeWhole(path, bytes);
    return { external, bytes: bytes.length + offset };
  }
}

function writeWhole(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, 'w');
  try {
    for (let p = 0; p < bytes.length;) p += writeSync(fd, bytes, p, bytes.length - p);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function valueInfo(name: string, elemType: ElemType, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPES[elemType].code,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attr(name: string, v: Attr) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('int' in v) return { name, type: T.INT, i: v.int };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}
