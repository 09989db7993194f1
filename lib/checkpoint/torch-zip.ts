/**
 * PyTorch checkpoints (`torch.save`'s zip format: .pth, .pt, .bin, DeepSpeed's
 * mp_rank_00_model_states.pt): `<top>/data.pkl` is unpickled by the restricted unpickler, whose
 * only calls are PyTorch's tensor rebuilders, and each tensor becomes a view of its storage record
 * `<top>/data/<key>` in the mapped file, with its offset and strides honoured.
 */
import { HrsegError } from '../errors.js';
import { DTYPE_SIZE, type CheckpointDType } from './dtype.js';
import { PyGlobal, PyObject, PyTuple, unpickle, type PyDict } from './pickle.js';
import { MappedSource, type ByteSource } from './source.js';
import { CheckpointTensor, TensorMap } from './tensor.js';
import { readZipDirectory, type ZipEntry } from './zip.js';

const STORAGE_DTYPES: Readonly<Record<string, CheckpointDType>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: CheckpointDType,
    readonly entry: ZipEntry,
  ) {}
}

/** A tensor as the pickle describes it, before it has a name. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly strides: number[],
  ) {}
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const ints = (v: unknown): number[] | undefined => {
  const items =
    v instanceof PyTuple ? v.items : Array.isArray(v) ? v : v instanceof PyObject ? (v.args[0] instanceof PyTuple ? v.args[0].items : undefined) : undefined;
  return items && items.every(isInt) ? (items as number[]) : undefined;
};

export function parseTorchZip(source: ByteSource): { tensors: Map<string, CheckpointTensor>; root: string } {
  const bad = (what: string): never => {
    throw new HrsegError('MODEL_FILE', `${source.name}: ${what}`);
  };
  const entries = readZipDirectory(source);
  const pkl = [...entries.keys()].find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) bad('a zip archive without data.pkl: not a PyTorch checkpoint');
  const top = pkl!.slice(0, pkl!.length - 'data.pkl'.length);
  const byteorder = entries.get(`${top}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(source.bytes(byteorder.dataOffset, Math.min(byteorder.size, 16))).trim();
    if (order !== 'little') bad(`stored ${order}-endian; only little-endian checkpoints are read`);
  }
  const stored = (e: ZipEntry, what: string) => {
    if (e.method !== 0) bad(`${what} is compressed (zip method ${e.method}); torch.save writes entries stored`);
    if (e.size !== e.compressedSize) bad(`${what}: sizes disagree (${e.size} vs ${e.compressedSize})`);
  };
  const pklEntry = entries.get(pkl!)!;
  stored(pklEntry, pkl!);

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const t = pid instanceof PyTuple ? pid.items : undefined;
    if (!t || t[0] !== 'storage' || t.length < 5) bad(`data.pkl: unknown persistent id`);
    const [, type, key, , numel] = t!;
    if (!(type instanceof PyGlobal) || typeof key !== 'string') bad('data.pkl: malformed storage id');
    const dtype = STORAGE_DTYPES[(type as PyGlobal).name];
    if (!dtype) bad(`data.pkl: storage type ${(type as PyGlobal).qualified} is not supported`);
    const name = `${top}data/${key as string}`;
    const entry = entries.get(name);
    if (!entry) bad(`storage '${key as string}' has no record ${name}`);
    stored(entry!, name);
    if (isInt(numel) && numel * DTYPE_SIZE[dtype] > entry!.size)
      bad(`storage '${key as string}' claims ${numel} ${dtype} elements but ${name} holds ${entry!.size} bytes`);
    let s = storages.get(key as string);
    if (!s) storages.set(key as string, (s = new StorageRef(key as string, dtype, entry!)));
    return s;
  };
  const rebuild = (args: unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    const shape = ints(size),
      strides = ints(stride);
    if (!(storage instanceof StorageRef) || !isInt(offset) || !shape || !strides || shape.length !== strides.length)
      bad('data.pkl: a tensor with malformed storage, offset, size or stride');
    const s = storage as StorageRef;
    const numel = shape!.reduce((a, b) => a * b, 1);
    let last = offset as number;
    if (numel > 0) for (let i = 0; i < shape!.length; i++) last += (shape![i] - 1) * strides![i];
    const elems = s.entry.size / DTYPE_SIZE[s.dtype];
    if (numel > 0 && last >= elems)
      bad(`a tensor [${shape!.join(', ')}] at offset ${offset} with strides [${strides!.join(', ')}] reads past its storage '${s.key}' (${elems} elements)`);
    return new TensorRef(s, offset as number, shape!, strides!);
  };
  const reduce = (callable: PyGlobal, args: unknown[]): unknown => {
    switch (callable.qualified) {
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor':
        return rebuild(args);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return args[0] instanceof TensorRef ? args[0] : undefined;
      case 'torch._tensor._rebuild_from_type_v2': {
        // (func, type, args, state): a tensor subclass around one of the rebuilders above.
        const [fn, , inner] = args;
        return fn instanceof PyGlobal && inner instanceof PyTuple ? reduce(fn, inner.items) : undefined;
      }
      default:
        return undefined; // stays inert data
    }
  };
  const root = unpickle(source.bytes(pklEntry.dataOffset, pklEntry.size), `${source.name} ${pkl}`, { persistentLoad, reduce });

  // The weights: DeepSpeed keeps them under 'module' (its frozen_param_fragments copy is
  // ignored), trainers under 'state_dict' or 'model'; plain state dicts are the root itself.
  let dict: unknown = root;
  let where = '';
  if (root instanceof Map)
    for (const k of ['module', 'state_dict', 'model'])
      if (root.get(k) instanceof Map) {
        dict = root.get(k);
        where = k;
        break;
      }
  if (!(dict instanceof Map)) bad('data.pkl holds no dictionary of tensors');
  const tensors = new Map<string, CheckpointTensor>();
  const seen = new Set<unknown>();
  const collect = (d: PyDict, prefix: string) => {
    if (seen.has(d)) return; // a pickle can make cycles
    seen.add(d);
    for (const [k, v] of d) {
      if (typeof k !== 'string') continue;
      const name = prefix + k;
      if (v instanceof TensorRef) {
        const size = DTYPE_SIZE[v.storage.dtype];
        tensors.set(name, new CheckpointTensor(name, v.storage.dtype, v.shape, source, v.storage.entry.dataOffset + v.offset * size, v.strides));
      } else if (v instanceof Map) collect(v, `${name}.`);
    }
  };
  collect(dict as PyDict, '');
  return { tensors, root: where };
}

export function openTorchZip(path: string): TensorMap {
  const source = MappedSource.open(path);
  try {
    const { tensors, root } = parseTorchZip(source);
    return new TensorMap(path, 'pytorch-zip', tensors, [source], root ? { root } : {});
  } catch (e) {
    source.close();
    throw e;
  }
}
