/**
 * The engine providers this installation knows, in the order device 'auto' prefers them. A new
 * provider registers here (or from outside through `registerProvider`).
 */
import { HrsegError } from '../errors.js';
import type { EngineProvider } from './provider.js';
import { cpuProvider } from './providers/cpu.js';
import { cudaProvider } from './providers/cuda.js';
import { tensorrtProvider } from './providers/tensorrt.js';
import { tritonProvider } from './providers/triton.js';

// triton is never picked by 'auto' (auto: false): its place in the order does not matter.
const providers: EngineProvider[] = [tensorrtProvider, cudaProvider, tritonProvider, cpuProvider];

/** Every provider, in 'auto's order of preference (the CPU, always available, last). */
export function engineProviders(): readonly EngineProvider[] {
  return providers;
}

export function findProvider(name: string): EngineProvider | undefined {
  return providers.find((p) => p.name === name);
}

/**
 * Adds a provider, before the CPU in 'auto's order when it takes part in 'auto'. A name already
 * registered is refused: devices are looked up by name.
 */
export function registerProvider(provider: EngineProvider): void {
  if (findProvider(provider.name)) throw new HrsegError('INVALID_ARGUMENT', `an engine provider named '${provider.name}' is already registered`);
  providers.splice(providers.length - 1, 0, provider);
}
