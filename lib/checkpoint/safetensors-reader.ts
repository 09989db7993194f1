/**
 * Reads safetensors files without reading the tensors: the header is parsed and checked
 * strictly (every entry's dtype, shape and byte range), and each tensor is a view into the mapped
 * file. Every inconsistency is a MODEL_FILE error naming the file and the tensor or byte range.
 */
import { HrsegError } from '../errors.js';
import { DTYPE_SIZE, isCheckpointDType } from './dtype.js';
import { MappedSource, type ByteSource } from './source.js';
import { CheckpointTensor, TensorMap } from './tensor.js';

/** Same limit as the native reader: real headers are a few MB at most. */
export const MAX_HEADER_BYTES = 100 * 2 ** 20;

export function parseSafetensors(source: ByteSource): { tensors: Map<string, CheckpointTensor>; metadata: Record<string, string> } {
  const bad = (what: string): never => {
    throw new HrsegError('MODEL_FILE', `${source.name}: ${what}`);
  };
  if (source.size < 8) bad(`truncated: ${source.size} bytes, a safetensors file starts with an 8-byte header length`);
  const head = source.bytes(0, 8);
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES) bad(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n > source.size - 8) bad(`truncated: header claims bytes 8..${8 + n} but the file has ${source.size}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(source.bytes(8, n)));
  } catch (e) {
    bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + n,
    dataSize = source.size - dataStart;
  const tensors = new Map<string, CheckpointTensor>();
  const metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>))
        if (typeof v === 'string') metadata[k] = v;
        else bad(`__metadata__ '${k}' is not a string`);
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) bad(`tensor '${name}': entry is not an object`);
    if (!isCheckpointDType(e.dtype)) bad(`tensor '${name}': dtype ${JSON.stringify(e.dtype)} is not supported`);
    const dtype = e.dtype as keyof typeof DTYPE_SIZE;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      bad(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of sizes`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1])
      bad(`tensor '${name}': data_offsets ${JSON.stringify(offs)} are not [begin, end]`);
    const [b, end] = offs as [number, number];
    const numel = (shape as number[]).reduce((a, x) => a * x, 1);
    if (end - b !== numel * DTYPE_SIZE[dtype])
      bad(
        `tensor '${name}': data_offsets [${b}, ${end}) hold ${end - b} bytes, but ${dtype} [${(shape as number[]).join(', ')}] needs ${numel * DTYPE_SIZE[dtype]}`,
      );
    if (end > dataSize) bad(`tensor '${name}': data_offsets [${b}, ${end}) run past the data section (${dataSize} bytes)`);
    if (end > b) ranges.push([b, end, name]);
    tensors.set(name, new CheckpointTensor(name, dtype, shape as number[], source, dataStart + b));
  }
  ranges.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < ranges.length; i++)
    if (ranges[i][0] < ranges[i - 1][1]) bad(`tensors '${ranges[i - 1][2]}' and '${ranges[i][2]}' overlap in the data section`);
  return { tensors, metadata };
}

export function openSafetensors(path: string): TensorMap {
  const source = MappedSource.open(path);
  try {
    const { tensors, metadata } = parseSafetensors(source);
    return new TensorMap(path, 'safetensors', tensors, [source], metadata);
  } catch (e) {
    source.close();
    throw e;
  }
}
