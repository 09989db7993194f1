/** Stage timing: each stage's wall time in ms, recorded under its name. */
import type { StageTimings } from './types.js';

export type TimeStage = <T>(stage: string, run: () => Promise<T>) => Promise<T>;

export function stageTimer(timings: StageTimings): TimeStage {
  return async (stage, run) => {
    const t0 = performance.now();
    const result = await run();
    timings[stage] = performance.now() - t0;
    return result;
  };
}
