/**
 * The engine folder and its sidecar (DESIGN.md "The TensorRT layer"). TensorRT cannot check a plan
 * before deserialising it, and deserialising a plan built for another GPU or TensorRT version fails
 * in ways that are hard to read (or worse, does not fail). So every build writes `engines.json`
 * beside its plans: what they were built for and from, and `verifySidecar` compares that with this
 * machine and package before any plan is opened, naming every difference.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { HrsegError } from '../errors.js';
import type { Precision } from '../onnx/typed.js';

export const SIDECAR_FILE = 'engines.json';
export const SIDECAR_VERSION = 1;

/** What a set of engines is bound to: the GPU, TensorRT, the precision and hrseg's plan layout. */
export interface EngineTarget {
  /** The UUID is recorded, not compared: a plan runs on any card of the same model. */
  gpu: { name: string; computeCapability: string; uuid?: string };
  tensorrt: string;
  precision: Precision;
  hrseg: string;
}

/** A file's identity: size and mtime are checked first; the hash decides when they differ. */
export interface FileSignature {
  bytes: number;
  mtimeMs: number;
  sha256: string;
}

export interface ProfileRange {
  name: string;
  min: number[];
  opt: number[];
  max: number[];
}

export interface EngineRecord {
  /** The plan, relative to the engine folder. */
  plan: string;
  planBytes: number;
  /** The ONNX file it was built from (relative to the package) and that file's signature. */
  onnx: string;
  source: FileSignature;
  profiles: ProfileRange[][];
  buildSeconds: number;
}

export interface Sidecar extends EngineTarget {
  version: number;
  builtAt: string;
  engines: Record<string, EngineRecord>;
}

/** e.g. "nvidia-h200-sm90-trt11.1.0-fp16": one folder per (GPU, TensorRT, precision). */
export function engineDirName(t: Pick<EngineTarget, 'gpu' | 'tensorrt' | 'precision'>): string {
  const gpu =
    t.gpu.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'gpu';
  return `${gpu}-sm${t.gpu.computeCapability.replace('.', '')}-trt${t.tensorrt}-${t.precision}`;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function fileSignature(path: string): Promise<FileSignature> {
  const s = await stat(path);
  return { bytes: s.size, mtimeMs: s.mtimeMs, sha256: await sha256File(path) };
}

/** Whether `path` still is the file `sig` describes (hashing only when size or mtime moved). */
export async function sameFile(path: string, sig: FileSignature): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  if (!s || s.size !== sig.bytes) return false;
  if (s.mtimeMs === sig.mtimeMs) return true;
  return (await sha256File(path)) === sig.sha256;
}

/** Reads and shape-checks a sidecar; a missing one is undefined, an unreadable one ENGINE_MISMATCH. */
export async function readSidecar(dir: string, rebuild: string): Promise<Sidecar | undefined> {
  const path = join(dir, SIDECAR_FILE);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let s: Sidecar;
  try {
    s = JSON.parse(text) as Sidecar;
  } catch {
    throw new HrsegError('ENGINE_MISMATCH', `${path} is not valid JSON (an interrupted build?); rebuild with: ${rebuild}`);
  }
  const ok =
    s &&
    typeof s === 'object' &&
    typeof s.version === 'number' &&
    typeof s.tensorrt === 'string' &&
    typeof s.hrseg === 'string' &&
    typeof s.precision === 'string' &&
    typeof s.gpu?.name === 'string' &&
    typeof s.gpu?.computeCapability === 'string' &&
    s.engines &&
    typeof s.engines === 'object';
  if (!ok) throw new HrsegError('ENGINE_MISMATCH', `${path} is not an hrseg engine sidecar; rebuild with: ${rebuild}`);
  if (s.version > SIDECAR_VERSION)
    throw new HrsegError('ENGINE_MISMATCH', `${path} was written by a newer hrseg (sidecar version ${s.version}); rebuild with: ${rebuild}`);
  return s;
}

/**
 * Every way the engines in `dir` do not fit this machine and package: target fields, missing or
 * truncated plans, and ONNX sources that changed since the build. Empty when they fit.
 */
export async function sidecarDifferences(
  dir: string,
  sidecar: Sidecar,
  expected: EngineTarget,
  packageDir: string,
  components: readonly string[],
): Promise<string[]> {
  const out: string[] = [];
  if (sidecar.gpu.name !== expected.gpu.name) out.push(`GPU: built for ${sidecar.gpu.name}, this is ${expected.gpu.name}`);
  if (sidecar.gpu.computeCapability !== expected.gpu.computeCapability)
    out.push(`compute capability: built for ${sidecar.gpu.computeCapability}, this GPU is ${expected.gpu.computeCapability}`);
  if (sidecar.tensorrt !== expected.tensorrt) out.push(`TensorRT: built with ${sidecar.tensorrt}, this machine has ${expected.tensorrt}`);
  if (sidecar.precision !== expected.precision) out.push(`precision: built as ${sidecar.precision}, asked for ${expected.precision}`);
  if (sidecar.hrseg !== expected.hrseg) out.push(`hrseg: built by ${sidecar.hrseg}, this is ${expected.hrseg}`);
  for (const c of components) {
    const e = sidecar.engines[c];
    if (!e) {
      out.push(`${c}: no engine was built`);
      continue;
    }
    const plan = await stat(join(dir, e.plan)).catch(() => undefined);
    if (!plan) out.push(`${c}: ${e.plan} is missing`);
    else if (plan.size !== e.planBytes) out.push(`${c}: ${e.plan} has ${plan.size} bytes, the build wrote ${e.planBytes}`);
    if (!(await sameFile(join(packageDir, e.onnx), e.source))) out.push(`${c}: ${e.onnx} changed since the engine was built`);
  }
  return out;
}
