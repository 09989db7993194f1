/**
 * Opens the checkpoints users have (CHECKPOINTS.md): safetensors files, PyTorch zip checkpoints
 * (.pth/.pt/.bin, DeepSpeed's model states), Hugging Face shard indexes (`*.index.json` over
 * either kind) and directories holding one of those. The kind is told from the bytes, not the name.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

import { HrsegError } from '../errors.js';
import { openSafetensors } from './safetensors-reader.js';
import { TensorMap, type Checkpoint, type CheckpointTensor } from './tensor.js';
import { openTorchZip } from './torch-zip.js';

export { CheckpointTensor, type Checkpoint } from './tensor.js';
export type { CheckpointDType } from './dtype.js';

const DIRECTORY_FILES = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'];

function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export function openCheckpoint(pathInput: string): Checkpoint {
  if (typeof pathInput !== 'string' || pathInput === '') throw new HrsegError('INVALID_ARGUMENT', 'checkpoint: expected a file or directory path');
  const path = resolve(pathInput);
  const info = existsSync(path) ? statSync(path) : undefined;
  if (!info) throw new HrsegError('MODEL_FILE', `checkpoint not found: ${path}`);
  if (info.isDirectory()) {
    const found = DIRECTORY_FILES.map((f) => join(path, f)).find((f) => existsSync(f));
    if (!found) throw new HrsegError('MODEL_FILE', `${path}: no checkpoint in this directory (looked for ${DIRECTORY_FILES.join(', ')})`);
    return openCheckpoint(found);
  }
  if (path.endsWith('.index.json')) return openSharded(path);
  const b = head(path, 16);
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return openTorchZip(path);
  if (b.length >= 9 && b[8] === 0x7b) return openSafetensors(path);
  if (b.length >= 2 && b[0] === 0x80 && b[1] <= 5)
    throw new HrsegError('MODEL_FILE', `${path}: a PyTorch checkpoint in the legacy format (before torch 1.6); re-save it with torch.save in the zip format`);
  throw new HrsegError('MODEL_FILE', `${path}: not a safetensors file, a PyTorch zip checkpoint or a shard index`);
}

/** Hugging Face shards: `*.index.json` with a weight_map of tensor → shard file beside it. */
function openSharded(indexPath: string): Checkpoint {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new HrsegError('MODEL_FILE', `${indexPath}: cannot read the shard index (${(e as Error).message})`);
  }
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new HrsegError('MODEL_FILE', `${indexPath}: no weight_map`);
  const dir = dirname(indexPath);
  const shards = new Map<string, Checkpoint>();
  const tensors = new Map<string, CheckpointTensor>();
  try {
    for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
      if (typeof file !== 'string' || isAbsolute(file) || relative(dir, resolve(dir, file)).startsWith('..'))
        throw new HrsegError('MODEL_FILE', `${indexPath}: shard ${JSON.stringify(file)} of '${name}' is not a file beside the index`);
      let shard = shards.get(file);
      if (!shard) {
        shard = openCheckpoint(resolve(dir, file));
        shards.set(file, shard);
      }
      if (!shard.has(name)) throw new HrsegError('MODEL_FILE', `${indexPath}: '${name}' is listed in ${file}, which does not hold it`);
      tensors.set(name, shard.get(name));
    }
  } catch (e) {
    for (const s of shards.values()) s.close();
    throw e;
  }
  const closer = { name: indexPath, size: 0, bytes: () => new Uint8Array(0), release: () => {}, close: () => shards.forEach((s) => s.close()) };
  const first = shards.values().next().value;
  return new TensorMap(indexPath, first?.format === 'pytorch-zip' ? 'pytorch-zip' : 'safetensors-sharded', tensors, [closer]);
}
