/**
 * Finding a package's engines for this machine: the folder named for this GPU, TensorRT version
 * and precision, checked against its sidecar before any plan is opened.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { HrsegError } from '../errors.js';
import type { Precision } from '../onnx/typed.js';
import { engineTarget, rebuildCommand } from './build.js';
import { engineDirName, readSidecar, sidecarDifferences, type Sidecar } from './sidecar.js';
import { planFile } from './specs.js';

export interface EngineSet {
  dir: string;
  precision: Precision;
  sidecar: Sidecar;
  plan(component: string): string;
  /** Tokens the VLM decoder's profiles admit (its key/value cache size), when it was built. */
  context?: number;
}

/**
 * The engines for `components`, in the first precision of `precisions` that has a folder here.
 * DEVICE_UNAVAILABLE without TensorRT or a GPU; MODEL_FILE when nothing was built for this
 * machine; ENGINE_MISMATCH naming every difference when the folder's sidecar does not fit.
 */
export async function findEngines(
  packageDir: string,
  components: readonly string[],
  precisions: readonly Precision[] = ['fp16', 'bf16', 'fp32'],
  gpu = 0,
): Promise<EngineSet> {
  // This machine's GPU and TensorRT, once; only the precision varies between the folders tried.
  const machine = engineTarget(precisions[0], gpu);
  for (const precision of precisions) {
    const target = { ...machine, precision };
    const dir = join(packageDir, 'engines', engineDirName(target));
    const rebuild = rebuildCommand(packageDir, precision, gpu);
    const sidecar = await readSidecar(dir, rebuild);
    if (!sidecar) continue;
    const diff = await sidecarDifferences(dir, sidecar, target, packageDir, components);
    if (diff.length)
      throw new HrsegError(
        'ENGINE_MISMATCH',
        `the engines in ${dir} do not fit this machine or package:\n  - ${diff.join('\n  - ')}\nrebuild with: ${rebuild}`,
      );
    const cached = (sidecar.engines['vlm/decoder']?.profiles ?? [])
      .flat()
      .filter((p) => p.name === 'past.0.key')
      .map((p) => p.max[2] + 1);
    return { dir, precision, sidecar, plan: (c) => join(dir, planFile(c)), ...(cached.length ? { context: Math.max(...cached) } : {}) };
  }
  const present = await readdir(join(packageDir, 'engines')).catch(() => [] as string[]);
  throw new HrsegError(
    'MODEL_FILE',
    `no TensorRT engines for this machine (${machine.gpu.name}, sm ${machine.gpu.computeCapability}, TensorRT ${machine.tensorrt}) in ${join(packageDir, 'engines')}` +
      (present.length ? ` (it has: ${present.join(', ')})` : '') +
      `; build them with: ${rebuildCommand(packageDir, precisions[0], gpu)}`,
  );
}
