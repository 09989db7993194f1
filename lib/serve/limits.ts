/**
 * Bounded work for `hrseg serve`. Preparing a photo takes seconds to minutes and hundreds of MB;
 * nothing stopped a client from starting as many as it liked. A Gate lets `concurrent` runs go at
 * once and `queue` more wait; past that a request is answered 503 with Retry-After at once, before
 * its body is read, so waiting requests hold at most (concurrent + queue) bodies.
 */
import { availableParallelism, totalmem } from 'node:os';

import { abortError } from '../abort.js';
import { HttpError } from './http.js';

export interface Ticket {
  /** Waits for a run slot (rejects if `signal` aborts first, giving the place up). */
  run(signal?: AbortSignal): Promise<void>;
  /** Gives the place (and the slot, if running) back; idempotent. */
  release(): void;
}

export class Gate {
  #places = 0;
  #running = 0;
  #waiting: Array<() => void> = [];
  /** Mean seconds of a run (exponentially weighted), for Retry-After. */
  #meanRunS = 2;

  constructor(
    readonly what: string,
    readonly concurrent: number,
    readonly queue: number,
  ) {
    for (const [v, name] of [
      [concurrent, 'concurrent'],
      [queue, 'queue'],
    ] as const)
      if (!Number.isInteger(v) || v < (name === 'queue' ? 0 : 1))
        throw new RangeError(`Gate ${name} must be a ${name === 'queue' ? 'non-negative' : 'positive'} integer, got ${v}`);
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#places - this.#running;
  }

  /** A place in the gate, or 503 BUSY (with Retry-After) when every place is taken. */
  admit(): Ticket {
    if (this.#places >= this.concurrent + this.queue) {
      const seconds = Math.min(120, Math.max(1, Math.ceil((this.#meanRunS * (this.#places + 1)) / this.concurrent)));
      throw new HttpError(
        503,
        'BUSY',
        `the server is busy: ${this.#running} ${this.what} running and ${this.waiting} waiting (--max-concurrent ${this.concurrent}, --max-queue ${this.queue}); try again in ${seconds} s`,
        { 'retry-after': String(seconds) },
      );
    }
    this.#places++;
    let state: 'queued' | 'waiting' | 'running' | 'released' = 'queued';
    let started = 0;
    let wake: (() => void) | undefined;
    const ticket: Ticket = {
      run: (signal) => {
        if (state !== 'queued') return Promise.reject(new Error('Ticket.run called twice'));
        if (signal?.aborted) return Promise.reject(abortError(signal));
        const start = () => {
          state = 'running';
          started = performance.now();
          this.#running++;
        };
        if (this.#running < this.concurrent) {
          start();
          return Promise.resolve();
        }
        state = 'waiting';
        return new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            this.#waiting = this.#waiting.filter((w) => w !== wake);
            reject(abortError(signal!));
          };
          wake = () => {
            signal?.removeEventListener('abort', onAbort);
            start();
            resolve();
          };
          this.#waiting.push(wake);
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      },
      release: () => {
        if (state === 'released') return;
        if (state === 'waiting') this.#waiting = this.#waiting.filter((w) => w !== wake);
        if (state === 'running') {
          this.#running--;
          this.#meanRunS = 0.8 * this.#meanRunS + 0.2 * ((performance.now() - started) / 1000);
          this.#waiting.shift()?.();
        }
        state = 'released';
        this.#places--;
      },
    };
    return ticket;
  }
}

/**
 * How many prepares at once by default: one per two cores (a prepare already spreads over the
 * thread pool; more at once mostly adds memory), and no more than a quarter of the machine's
 * memory holds at ~60 bytes a pixel (decoded image, views, proposals at full resolution) for
 * images at the pixel limit. At least 1, at most 4.
 */
export function defaultConcurrency(maxPixels: number): number {
  const byCores = Math.floor(availableParallelism() / 2);
  const byMemory = Math.floor(totalmem() / 4 / (maxPixels * 60));
  return Math.max(1, Math.min(4, byCores, byMemory));
}
