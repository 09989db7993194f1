/**
 * What this CPU can do at most (docs/performance.md "The machine's peaks"): every arithmetic peak
 * it has an instruction set for, and its memory bandwidth, on the threads hrseg uses. The other
 * benchmarks state their stages as shares of these, measured in their own runs.
 *
 *   npm run bench:peak [-- --seconds 1] [--bandwidth-mib 1024]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { runtimeInfo } from '../../lib/runtime.js';
import { measureCpuPeaks, si } from './cpu-peaks.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' }, 'bandwidth-mib': { type: 'string', default: '1024' } } });
const seconds = Number(values.seconds),
  mib = Number(values['bandwidth-mib']);
if (!(seconds > 0) || !(mib > 0)) throw new Error('--seconds and --bandwidth-mib must be positive numbers');

const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? process.arch;
const info = runtimeInfo();
const peaks = await measureCpuPeaks(seconds, mib * 2 ** 20);
const fp32 = peaks.all.find((p) => p.name === 'fp32 FMA (AVX2)') ?? peaks.best.fp32;
console.log(`\n${model}: ${peaks.threads} threads; vector instruction sets: ${info.cpuFeatures}; GEMM kernel in use: ${info.cpuKernel}\n`);
console.log('| peak | all threads | per thread | × the AVX2 fp32 FMA peak |');
console.log('|---|---|---|---|');
for (const p of peaks.all) {
  const ratio = p.kind === 'bandwidth' ? '' : `${(p.perSecond / fp32.perSecond).toFixed(2)}`;
  console.log(`| ${p.name} | ${si(p.perSecond)}${p.unit} | ${si(p.perSecond / peaks.threads)}${p.unit} | ${ratio} |`);
}
console.log(
  `\nEach arithmetic peak: independent chains of its widest instruction on every thread at once for ~${seconds} s; bandwidth: the best of ≥ 3 passes over ${mib} MiB.`,
);
