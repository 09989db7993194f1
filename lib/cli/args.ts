import { engineProviders } from '../engines/registry.js';

/**
 * What every hrseg command shares: usage errors (exit 2), the Ctrl-C signal, option checks and
 * the progress line helpers.
 */
export class UsageError extends Error {}

export const controller = new AbortController();
// First Ctrl-C: stop at the next checkpoint and clean up; a second one: leave at once.
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort(new Error('interrupted'));
});

/** The devices `--device` takes: 'auto' and every registered engine provider. */
export const DEVICES: readonly string[] = ['auto', ...engineProviders().map((p) => p.name)];
export const DEVICE_HELP = `${DEVICES.join(', ')} (default auto)`;
export const MODES = ['generate', 'teacher-forced'] as const;

/** --triton-url: device triton's server (docs/triton.md); only with --device triton. */
export const TRITON_URL_HELP = "--triton-url <h:p>     --device triton: the Triton server's gRPC endpoint (docs/triton.md)";
export function tritonOption(url: string | undefined, device: string | undefined): { triton?: { url: string } } {
  if (url === undefined) return {};
  if (device !== 'triton') throw new UsageError('--triton-url is for --device triton');
  return { triton: { url } };
}

/** One command: its name, a one-line summary, its usage and options for `--help`, and its work. */
export interface Command {
  name: string;
  summary: string;
  /** The synopsis and the options, one per line, as `hrseg <name> --help` prints them. */
  help: string;
  run(argv: string[]): Promise<void>;
}

export function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

export function choice<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`${what} must be one of ${allowed.join(', ')}`);
  return value as T;
}

export function positiveInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a positive integer`);
  return n;
}

export function positiveNumber(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0)) throw new UsageError(`${what} must be a positive number`);
  return n;
}

/** Seconds as "4m07s" (rounded to whole seconds first, so never "6m60s"); "--" when unknown. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function bar(done: number, total: number, started: number): string {
  const width = 28,
    frac = total ? done / total : 1;
  const elapsed = (performance.now() - started) / 1000;
  const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
  const fmt = duration;
  return `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${done}/${total} ${(100 * frac).toFixed(0)}% elapsed ${fmt(elapsed)} eta ${fmt(eta)}`;
}
