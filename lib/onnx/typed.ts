/**
 * fp16 and bf16 variants of a float32 graph. TensorRT 10/11 builds strongly typed networks: an
 * fp16 or bf16 engine needs an fp16 or bf16 ONNX file, so the converter (and build-engines) make
 * them here. The variant keeps the package's float32 interface (a Cast after each float input and
 * before each float output), stores every float weight in the target type (round to nearest even),
 * and runs the operations whose accuracy needs it in float32, between Casts: normalisations,
 * softmax, reductions, and the transcendental functions of positional encodings (Sin, Cos, Exp).
 */
import { HrsegError } from '../errors.js';
import { ELEM_TYPES, GraphBuilder, elemTypeOf, type ElemType, type Initializer } from './graph.js';

export const PRECISIONS = ['fp32', 'fp16', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** INVALID_ARGUMENT unless `precision` is one of PRECISIONS (for values from users). */
export function checkPrecision(precision: string): asserts precision is Precision {
  if (!(PRECISIONS as readonly string[]).includes(precision))
    throw new HrsegError('INVALID_ARGUMENT', `precision must be fp32, fp16 or bf16, got '${precision}'`);
}

/** Operators computed in float32 inside a typed graph. */
export const KEEP_FLOAT32: ReadonlySet<string> = new Set([
  'LayerNormalization',
  'Softmax',
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceL2',
  'Sin',
  'Cos',
  'Exp',
  'Log',
  'Pow',
  'Sqrt',
  // Range has no float16/bfloat16 form in ONNX (and the index grids it makes want float32).
  'Range',
]);

/**
 * And in bf16 graphs, the operators that opset 17 defines without bfloat16 (Conv and ConvTranspose
 * gain it only in opset 22): patch embeddings and SAM's neck, a small share of the work.
 */
const NO_BF16_IN_OPSET17: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'AveragePool', 'MaxPool', 'Resize']);

/** Inputs that ONNX types as float32 whatever the data type (Resize's roi and scales). */
const FLOAT32_INPUTS: Readonly<Record<string, number[]>> = { Resize: [1, 2] };

const FLOAT = ELEM_TYPES.float.code;

/** float32 → IEEE half, round to nearest even (overflow → ±inf, NaN kept). */
export function floatToHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff,
    mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000,
      shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1),
      halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still right
  return sign | h;
}

/** float32 → bfloat16, round to nearest even (NaN kept quiet). */
export function floatToBf16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function convertBytes(bytes: Uint8Array, target: 'float16' | 'bfloat16'): Uint8Array {
  const src = bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) : new Float32Array(bytes.slice().buffer);
  const out = new Uint16Array(src.length);
  const f = target === 'float16' ? floatToHalf : floatToBf16;
  for (let i = 0; i < src.length; i++) out[i] = f(src[i]);
  return new Uint8Array(out.buffer);
}

/** The element type each tensor of the graph carries (ONNX DataType codes). */
function inferTypes(g: GraphBuilder): Map<string, number> {
  const { nodes, inits, inputs } = g.parts();
  const types = new Map<string, number>();
  for (const i of inputs) types.set(i.name ?? '', i.type?.tensorType?.elemType ?? FLOAT);
  for (const i of inits) types.set(i.name, ELEM_TYPES[i.type].code);
  const attrInt = (n: (typeof nodes)[number], name: string) => Number(n.attribute?.find((a) => a.name === name)?.i ?? 0);
  for (const n of nodes) {
    const ins = (n.input ?? []).map((x) => types.get(x));
    let t: number | undefined;
    switch (n.opType) {
      case 'Shape':
      case 'NonZero':
      case 'ArgMax':
      case 'ArgMin':
        t = ELEM_TYPES.int64.code;
        break;
      case 'Equal':
      case 'Less':
      case 'Greater':
      case 'LessOrEqual':
      case 'GreaterOrEqual':
      case 'Not':
      case 'And':
      case 'Or':
      case 'Xor':
      case 'IsNaN':
      case 'IsInf':
        t = ELEM_TYPES.bool.code;
        break;
      case 'Cast':
        t = attrInt(n, 'to');
        break;
      case 'Where':
        t = ins[1];
        break;
      default:
        t = ins.find((x) => x === FLOAT) ?? ins[0];
    }
    for (const o of n.output ?? []) types.set(o, t ?? FLOAT);
  }
  return types;
}

export function typedGraph(g: GraphBuilder, precision: Precision): GraphBuilder {
  if (precision === 'fp32') return g;
  const target: 'float16' | 'bfloat16' = precision === 'fp16' ? 'float16' : 'bfloat16';
  const T = ELEM_TYPES[target].code;
  const { nodes, inits, inputs, outputs } = g.parts();
  const types = inferTypes(g);
  const isFloat = (name: string) => types.get(name) === FLOAT;
  const keep = (op: string) => KEEP_FLOAT32.has(op) || (precision === 'bf16' && NO_BF16_IN_OPSET17.has(op));
  let counter = 0;
  const fresh = (base: string) => `${base}__${precision}_${counter++}`;
  const cast = (input: string, output: string, to: number) => ({
    opType: 'Cast',
    input: [input],
    output: [output],
    name: fresh('Cast'),
    attribute: [{ name: 'to', type: 2, i: to }],
  });

  // Which float initializers must stay float32 (read by a float32 operator or a float32-only input).
  const keepRead = new Set<string>(),
    otherRead = new Set<string>();
  const initNames = new Set(inits.filter((i) => i.type === 'float').map((i) => i.name));
  for (const n of nodes)
    (n.input ?? []).forEach((x, k) => {
      if (!initNames.has(x)) return;
      if (keep(n.opType ?? '') || FLOAT32_INPUTS[n.opType ?? '']?.includes(k)) keepRead.add(x);
      else otherRead.add(x);
    });
  const newInits: Initializer[] = [];
  for (const i of inits) {
    if (i.type !== 'float') {
      newInits.push(i);
      continue;
    }
    if (keepRead.has(i.name)) newInits.push(i); // float32 copy under its own name
    if (otherRead.has(i.name) || !keepRead.has(i.name)) {
      const name = keepRead.has(i.name) ? `${i.name}__${precision}` : i.name;
      const bytes = i.bytes;
      newInits.push({
        name,
        type: target as ElemType,
        dims: i.dims,
        byteLength: i.byteLength / 2,
        bytes: () => convertBytes(bytes(), target),
        release: i.release,
      });
    }
  }
  const typedInit = (x: string) => (keepRead.has(x) && otherRead.has(x) ? `${x}__${precision}` : x);

  // Interface: float inputs are cast in, float outputs cast out.
  const rename = new Map<string, string>();
  const newNodes: typeof nodes = [];
  for (const i of inputs)
    if (isFloat(i.name ?? '')) {
      const inner = fresh(i.name ?? 'input');
      rename.set(i.name ?? '', inner);
      newNodes.push(cast(i.name ?? '', inner, T));
    }
  const outputNames = new Set(outputs.filter((o) => isFloat(o.name ?? '')).map((o) => o.name ?? ''));
  const outInner = new Map<string, string>();
  for (const o of outputNames) outInner.set(o, fresh(o));
  const ref = (x: string) => rename.get(x) ?? outInner.get(x) ?? x;

  for (const n of nodes) {
    const op = n.opType ?? '';
    if (keep(op)) {
      const ins = (n.input ?? []).map((x) => {
        if (!x || !isFloat(x) || keepRead.has(x)) return ref(x);
        const up = fresh(`${x}_f32`);
        newNodes.push(cast(ref(x), up, FLOAT));
        return up;
      });
      const outs = (n.output ?? []).map((o) => (isFloat(o) ? fresh(`${o}_f32`) : ref(o)));
      newNodes.push({ ...n, input: ins, output: outs });
      (n.output ?? []).forEach((o, k) => {
        if (isFloat(o)) newNodes.push(cast(outs[k], ref(o), T));
      });
      continue;
    }
    const ins = (n.input ?? []).map((x, k) => {
      if (FLOAT32_INPUTS[op]?.includes(k)) return x; // stays a float32 initializer
      return initNames.has(x) ? typedInit(x) : ref(x);
    });
    const copy = { ...n, input: ins, output: (n.output ?? []).map(ref) };
    if (op === 'Cast' && Number(n.attribute?.find((a) => a.name === 'to')?.i) === FLOAT)
      copy.attribute = (n.attribute ?? []).map((a) => (a.name === 'to' ? { ...a, i: T } : a));
    newNodes.push(copy);
  }
  for (const [o, inner] of outInner) newNodes.push(cast(inner, o, FLOAT));
  for (const i of newInits) if (!elemTypeOf(ELEM_TYPES[i.type].code)) throw new HrsegError('INTERNAL', `typed graph: bad type for '${i.name}'`);
  return GraphBuilder.fromParts({ nodes: newNodes, inits: newInits, inputs, outputs });
}
