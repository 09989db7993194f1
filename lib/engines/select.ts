/**
 * Which provider runs a package: the one asked for by name, or for 'auto' the first that this
 * machine runs and the package is ready for, with every provider passed over and why.
 */
import { HrsegError } from '../errors.js';
import type { ModelPackage } from '../package/manifest.js';
import type { AttachOptions, EngineSource } from './provider.js';
import { engineProviders, findProvider } from './registry.js';

export interface SelectedSource {
  source: EngineSource;
  /** 'asked for', or what 'auto' passed over on the way. */
  reason: string;
}

export async function selectEngineSource(device: string, pkg: ModelPackage, options: AttachOptions = {}): Promise<SelectedSource> {
  if (device !== 'auto') {
    const provider = findProvider(device);
    if (!provider)
      throw new HrsegError(
        'INVALID_ARGUMENT',
        `device must be ${[...engineProviders().map((p) => `'${p.name}'`), "'auto'"].join(', ')}, got '${String(device)}'`,
      );
    return { source: await provider.attach(pkg, options), reason: 'asked for' };
  }
  const passed: string[] = [];
  for (const provider of engineProviders()) {
    if (!provider.auto) continue;
    const why = provider.unavailable();
    if (why !== undefined) {
      passed.push(`${provider.name}: ${why}`);
      continue;
    }
    try {
      const source = await provider.attach(pkg, options);
      return { source, reason: passed.length === 0 ? `auto: the first choice` : `auto, passing over ${passed.join('; ')}` };
    } catch (e) {
      passed.push(`${provider.name}: ${(e as Error).message}`);
    }
  }
  throw new HrsegError('DEVICE_UNAVAILABLE', `device 'auto': no engine provider can run ${pkg.dir}:\n  - ${passed.join('\n  - ')}`);
}
