/**
 * Bridges an AbortSignal to native cancellation: native work polls a CancelHandle between chunks,
 * and the signal's abort event cancels it. An already-aborted signal rejects before any work starts.
 */
import { HrsegError, awaitNative, fromNative } from './errors.js';
import { native, type NativeCancelHandle } from './native.js';

export function abortError(signal: AbortSignal): HrsegError {
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new HrsegError('ABORTED', `the operation was aborted${reason}`, { cause: signal.reason });
}

/** Runs a native async operation with a cancel handle wired to `signal`. */
export async function runCancellable<T>(signal: AbortSignal | undefined, start: (handle: NativeCancelHandle) => Promise<T>): Promise<T> {
  if (signal?.aborted) throw abortError(signal);
  const handle = new (native().CancelHandle)();
  const onAbort = () => handle.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await awaitNative(start(handle));
  } catch (raw) {
    // Synchronous throws (argument checks) arrive here unconverted; async rejections already are.
    const error = fromNative(raw);
    if (signal?.aborted && error instanceof HrsegError && error.code === 'ABORTED') throw abortError(signal);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
