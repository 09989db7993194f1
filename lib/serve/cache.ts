/**
 * Prepared images held by `hrseg serve`, least recently used first out, bounded by bytes: an
 * image's proposals, features and prompt embeddings are tens of MB at photo sizes, so a count
 * limit would say nothing about memory. An entry leaving the cache is released (its device state
 * with it) unless a request is still using it; then it is released when that request ends.
 */
export interface CacheEntry<T> {
  readonly id: string;
  readonly value: T;
  readonly bytes: number;
}

export class ByteLru<T> {
  #entries = new Map<string, CacheEntry<T>>();
  #bytes = 0;
  #busy = new Map<string, number>();
  #evicted = new Set<string>();

  constructor(
    readonly limitBytes: number,
    private readonly release: (value: T) => void,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Adds an entry, evicting the least recently used until the total fits (the newest always stays). */
  add(id: string, value: T, bytes: number): void {
    this.delete(id);
    this.#entries.set(id, { id, value, bytes });
    this.#bytes += bytes;
    for (const [old] of this.#entries) {
      if (this.#bytes <= this.limitBytes || old === id) break;
      this.delete(old);
    }
  }

  /** The entry, now the most recently used, held for the caller until `done()`; undefined if gone. */
  acquire(id: string): { value: T; done: () => void } | undefined {
    const e = this.#entries.get(id);
    if (!e) return undefined;
    this.#entries.delete(id);
    this.#entries.set(id, e);
    this.#busy.set(id, (this.#busy.get(id) ?? 0) + 1);
    let released = false;
    return {
      value: e.value,
      done: () => {
        if (released) return;
        released = true;
        const n = (this.#busy.get(id) ?? 1) - 1;
        if (n > 0) this.#busy.set(id, n);
        else {
          this.#busy.delete(id);
          if (this.#evicted.delete(id)) this.release(e.value);
        }
      },
    };
  }

  delete(id: string): boolean {
    const e = this.#entries.get(id);
    if (!e) return false;
    this.#entries.delete(id);
    this.#bytes -= e.bytes;
    if (this.#busy.has(id)) this.#evicted.add(id);
    else this.release(e.value);
    return true;
  }

  clear(): void {
    for (const id of [...this.#entries.keys()]) this.delete(id);
  }
}
