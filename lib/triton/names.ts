/**
 * What an exported Triton model repository holds, shared by the writer (`hrseg export-triton`) and
 * the client (the 'triton' engine provider): which components are served, under which model names,
 * and the identity each model's config carries so that a client can tell another package apart.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';

import type { Component } from '../engines/contracts.js';
import { backboneComponents, componentEntry } from '../package/components.js';
import type { ModelPackage } from '../package/manifest.js';

/**
 * Not written as a plain stateless model: the VLM decoder's key/value cache (~0.5 MiB a token on a
 * 7B model) would travel with every token. The python backend serves it as a stateful model with
 * the caches kept in the server (kv.ts); for the other backends it stays in the Node process.
 */
export const IN_PROCESS: ReadonlySet<Component> = new Set(['vlm/decoder']);

/** The components a package's repository serves, in pipeline order. */
export const servedComponents = (pkg: ModelPackage): Component[] => backboneComponents(pkg.preset).filter((c) => !IN_PROCESS.has(c));

/** 'sam/encoder' → 'hrseg_sam_encoder' (Triton's model names are folder names). */
export const modelName = (component: Component): string => `hrseg_${component.replace(/[^a-z0-9]+/gi, '_')}`;

/** The decoupled model that runs the greedy loop next to the decoder and streams tokens (generate.ts). */
export const GENERATE_MODEL_NAME = 'hrseg_vlm_generate';

/** The config.pbtxt parameters that name what a model was exported from (all strings). */
export interface ModelIdentity {
  hrseg_package: string;
  hrseg_preset: string;
  hrseg_component: string;
  hrseg_file: string;
  /** The ONNX file's bytes: another precision or conversion is another file. */
  hrseg_bytes: string;
  /** sha256 over the size, the first and the last 4 MiB: cheap on a 2.5 GB encoder, and it changes with any re-export. */
  hrseg_fingerprint: string;
}

const EDGE = 4 << 20;

async function fingerprint(file: string, size: number): Promise<string> {
  const hash = createHash('sha256').update(`${size}\n`);
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(EDGE, size));
    await fh.read(head, 0, head.length, 0);
    hash.update(head);
    if (size > EDGE) {
      const tail = Buffer.alloc(Math.min(EDGE, size - EDGE));
      await fh.read(tail, 0, tail.length, size - tail.length);
      hash.update(tail);
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

export async function modelIdentity(pkg: ModelPackage, component: Component): Promise<ModelIdentity> {
  const file = pkg.files[componentEntry(component).file];
  const { size } = await stat(file);
  return {
    hrseg_package: pkg.name,
    hrseg_preset: pkg.preset,
    hrseg_component: component,
    hrseg_file: basename(file),
    hrseg_bytes: String(size),
    hrseg_fingerprint: await fingerprint(file, size),
  };
}

/** Every way `served` differs from `wanted`, in words (empty when they are the same). */
export function identityDifferences(wanted: ModelIdentity, served: Partial<Record<string, string>>): string[] {
  const labels: Record<keyof ModelIdentity, string> = {
    hrseg_package: 'package',
    hrseg_preset: 'preset',
    hrseg_component: 'component',
    hrseg_file: 'file',
    hrseg_bytes: 'file size (another precision or export)',
    hrseg_fingerprint: 'file contents',
  };
  const out: string[] = [];
  for (const key of Object.keys(labels) as (keyof ModelIdentity)[])
    if (served[key] !== wanted[key])
      out.push(`${labels[key]}: the server has ${served[key] === undefined ? 'none' : `'${served[key]}'`}, this package '${wanted[key]}'`);
  return out;
}
