/**
 * This CPU's measured peaks, for the benchmarks to state their speed as a share of: the fastest
 * fp32 FMA, bf16 and int8 rates of the instruction sets it has (AVX2, AVX-512, AVX-512 BF16 and
 * VNNI, AMX tiles) and its memory bandwidth, all threads hrseg uses at once.
 */
import { native, type NativeCpuPeak } from '../../lib/native.js';
import { runtimeInfo } from '../../lib/runtime.js';

export interface CpuPeaks {
  threads: number;
  all: NativeCpuPeak[];
  /** The best of each kind: FLOP/s (fp32, bf16), OP/s (int8), B/s (bandwidth: memory read). */
  best: Record<NativeCpuPeak['kind'], { name: string; perSecond: number }>;
}

export async function measureCpuPeaks(seconds = 0.5, bandwidthBytes = 1 << 30): Promise<CpuPeaks> {
  const threads = runtimeInfo().cpuThreads;
  const all = await native()._testing.cpuPeaks(threads, seconds, bandwidthBytes);
  const best = {} as CpuPeaks['best'];
  for (const p of all) {
    const kind = p.name === 'memory copy (read + write)' ? undefined : p.kind;
    if (kind && (!best[kind] || p.perSecond > best[kind].perSecond)) best[kind] = { name: p.name, perSecond: p.perSecond };
  }
  return { threads, all, best };
}

/** "12.3 % of the fp32 peak (fp32 FMA (AVX-512), 150 GFLOP/s)". */
export function shareOf(peaks: CpuPeaks, kind: NativeCpuPeak['kind'], perSecond: number): string {
  const p = peaks.best[kind];
  if (!p) return `no ${kind} peak measured`;
  return `${((100 * perSecond) / p.perSecond).toFixed(1)} % of ${p.name}`;
}

/** 1.5e11 → "150 G". */
export function si(x: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
  ];
  for (const [scale, u] of units) if (x >= scale) return `${(x / scale).toPrecision(3)} ${u}`;
  return x.toPrecision(3);
}
