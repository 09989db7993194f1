/**
 * Where a checkpoint's bytes come from. Files are memory-mapped by the native core (no read of
 * the whole file: LLM-Seg's checkpoint is 31.5 GB, larger than a 24 GB machine's memory) and
 * tensors are zero-copy views into the mapping; buffers in memory serve tests and small inputs.
 */
import { HrsegError, callNative } from '../errors.js';
import { native } from '../native.js';

export interface ByteSource {
  /** The file's path (or a label), for messages. */
  readonly name: string;
  readonly size: number;
  /** Bytes [offset, offset + length), a view where possible. MODEL_FILE when the range leaves the source. */
  bytes(offset: number, length: number): Uint8Array;
  /** A hint that [offset, offset + length) is not needed again soon (mapped pages may be dropped). */
  release(offset: number, length: number): void;
  close(): void;
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size)
    throw new HrsegError('MODEL_FILE', `${name}: bytes ${offset}..${offset + length} lie outside the file (${size} bytes)`);
}

export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly data: Uint8Array,
    readonly name = 'buffer',
  ) {
    this.size = data.length;
  }
  bytes(offset: number, length: number): Uint8Array {
    checkRange(this.name, this.size, offset, length);
    return this.data.subarray(offset, offset + length);
  }
  release(): void {}
  close(): void {}
}

interface NativeMapApi {
  mapFile(path: string): { handle: unknown; size: number };
  mapView(handle: unknown, offset: number, length: number): ArrayBuffer;
  mapRelease(handle: unknown, offset: number, length: number): void;
}
const api = () => native() as unknown as NativeMapApi;

export class MappedSource implements ByteSource {
  // One ArrayBuffer per range asked for: V8 may refuse two ArrayBuffers over the same memory, and
  // readers ask for each storage or tensor once anyway. Dropped on close().
  #views = new Map<string, ArrayBuffer>();
  #handle: unknown;

  private constructor(
    handle: unknown,
    readonly size: number,
    readonly name: string,
  ) {
    this.#handle = handle;
  }

  static open(path: string): MappedSource {
    const m = callNative(() => api().mapFile(path));
    return new MappedSource(m.handle, m.size, path);
  }

  bytes(offset: number, length: number): Uint8Array {
    checkRange(this.name, this.size, offset, length);
    if (this.#handle === undefined) throw new HrsegError('INVALID_ARGUMENT', `${this.name}: the checkpoint has been closed`);
    if (length === 0) return new Uint8Array(0);
    const key = `${offset}:${length}`;
    let view = this.#views.get(key);
    if (!view) {
      view = callNative(() => api().mapView(this.#handle, offset, length));
      this.#views.set(key, view);
    }
    return new Uint8Array(view);
  }

  release(offset: number, length: number): void {
    if (this.#handle !== undefined) callNative(() => api().mapRelease(this.#handle, offset, length));
  }

  /** Drops this reader's references; the mapping goes once the views handed out are collected. */
  close(): void {
    this.#views.clear();
    this.#handle = undefined;
  }
}
