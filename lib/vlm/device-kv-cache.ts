import type { DeviceBuffer, Engine, EngineValue } from '../engines/types.js';

/**
 * The key/value cache of a decoder that keeps values on the device (one with `allocate`): every
 * buffer holds the context limit and is written in place, so generating allocates nothing per
 * step. A prefix (the image context) gets its own set, kept with its VlmContext and only read
 * afterwards; the steps of an answer alternate between two scratch sets, each step reading the
 * set the previous one wrote.
 */
export class DeviceKvCache {
  #scratch: Record<string, DeviceBuffer>[] = [];
  /** Each prefix's buffers, with the views of them its context holds once it has one. */
  #prefixes = new Map<Record<string, DeviceBuffer>, { views?: Record<string, EngineValue> }>();
  /** A context dropped without release() frees its prefix when collected (a backstop only). */
  #orphans = new FinalizationRegistry<Record<string, DeviceBuffer>>((set) => this.releasePrefix(set));
  #turn = 0;

  constructor(
    private readonly engine: Engine & { allocate(bytes: number): DeviceBuffer },
    private readonly names: readonly string[],
    private readonly bytes: number,
    readonly context: number,
  ) {}

  private set(): Record<string, DeviceBuffer> {
    const made: Record<string, DeviceBuffer> = {};
    try {
      for (const n of this.names) made[n] = this.engine.allocate(this.bytes);
    } catch (e) {
      release(made);
      throw e;
    }
    return made;
  }

  /** A set of its own, for a prefix that later steps read; freed by releasePrefix or dispose. */
  fresh(): Record<string, DeviceBuffer> {
    const set = this.set();
    this.#prefixes.set(set, {});
    return set;
  }

  /** The prefix's views and the context that owns them: released with the set. */
  keep(set: Record<string, DeviceBuffer>, views: Record<string, EngineValue>, owner: object): void {
    const entry = this.#prefixes.get(set);
    if (!entry) return;
    entry.views = views;
    this.#orphans.register(owner, set, set);
  }

  releasePrefix(set: Record<string, DeviceBuffer>): void {
    const entry = this.#prefixes.get(set);
    if (!entry) return;
    this.#prefixes.delete(set);
    this.#orphans.unregister(set);
    if (entry.views) release(entry.views);
    release(set);
  }

  /** The scratch set the next step writes (never the one the previous step wrote). */
  next(): Record<string, DeviceBuffer> {
    if (this.#scratch.length === 0) this.#scratch = [this.set(), this.set()];
    this.#turn ^= 1;
    return this.#scratch[this.#turn];
  }

  /** Frees every set and every view a context still holds of one. */
  dispose(): void {
    for (const set of [...this.#prefixes.keys()]) this.releasePrefix(set);
    for (const set of this.#scratch) release(set);
    this.#scratch = [];
  }
}

export function release(values: Readonly<Record<string, { release?(): void }>>): void {
  for (const v of Object.values(values)) v.release?.();
}
