/**
 * A small builder for ONNX graphs of standard operators, encoded with onnx-proto, for the models
 * that tests and benchmarks run on onnxruntime-node.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };

type Attr = number | number[] | string | { floats: number[] };

export class GraphBuilder {
  private nodes: import('onnx-proto').onnx.INodeProto[] = [];
  private inits: import('onnx-proto').onnx.ITensorProto[] = [];
  private inputs: import('onnx-proto').onnx.IValueInfoProto[] = [];
  private outputs: import('onnx-proto').onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** A fresh intermediate name. */
  tmp(prefix = 't'): string {
    return `${prefix}_${this.counter++}`;
  }

  input(name: string, elemType: 'float' | 'int64', dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: 'float' | 'int64', dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  float(name: string, dims: number[], data: Float32Array | number[]): string {
    this.inits.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytesOf(Float32Array.from(data)) });
    return name;
  }

  /** An int64 constant; `dims` [] makes a scalar. */
  int64(name: string, data: number[], dims: number[] = [data.length]): string {
    this.inits.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: bytesOf(BigInt64Array.from(data.map(BigInt))),
    });
    return name;
  }

  /** Adds a node; returns its (first) output name. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs: string[] = [this.tmp(type)]): string {
    const attribute = Object.entries(attrs).map(([name, v]) => attr(name, v));
    this.nodes.push({ opType: type, input: inputs, output: outputs, attribute, name: `${type}_${this.counter++}` });
    return outputs[0];
  }

  encode(opset = 17): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'hrseg-tests',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: 'g', node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function valueInfo(name: string, elemType: 'float' | 'int64', dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: elemType === 'float' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
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
  return { name, type: T.FLOATS, floats: v.floats };
}
