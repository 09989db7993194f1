/**
 * Every failure hrseg reports is an HrsegError with a stable `code`, so callers can branch on the
 * kind of problem without parsing messages.
 */
export type HrsegErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_TENSOR'
  | 'ABORTED'
  | 'MODEL_FILE'
  | 'INVALID_IMAGE'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_TOO_LARGE'
  | 'DEVICE_UNAVAILABLE'
  | 'ENGINE_MISMATCH'
  | 'ENGINE_BUILD_FAILED'
  | 'NATIVE_BINARY_NOT_FOUND'
  | 'NATIVE_BINARY_LOAD_FAILED'
  | 'OUT_OF_MEMORY'
  /** A remote engine server (device 'triton') went away or did not answer within the deadline: retry later. */
  | 'UNAVAILABLE'
  | 'INTERNAL';

export class HrsegError extends Error {
  readonly code: HrsegErrorCode;

  constructor(code: HrsegErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = code === 'ABORTED' ? 'AbortError' : 'HrsegError';
    this.code = code;
  }
}

const KNOWN_CODES = new Set<string>([
  'INVALID_ARGUMENT',
  'INVALID_TENSOR',
  'ABORTED',
  'MODEL_FILE',
  'INVALID_IMAGE',
  'IMAGE_NOT_FOUND',
  'IMAGE_TOO_LARGE',
  'DEVICE_UNAVAILABLE',
  'ENGINE_MISMATCH',
  'ENGINE_BUILD_FAILED',
  'NATIVE_BINARY_NOT_FOUND',
  'NATIVE_BINARY_LOAD_FAILED',
  'OUT_OF_MEMORY',
  'UNAVAILABLE',
  'INTERNAL',
]);

/** Converts an error thrown by the addon (which carries `hrsegCode`) into an HrsegError. */
export function fromNative(error: unknown): unknown {
  if (error instanceof HrsegError) return error;
  const raw = error instanceof Error ? (error as Error & { hrsegCode?: unknown }).hrsegCode : undefined;
  if (error instanceof Error && typeof raw === 'string') {
    const code = (KNOWN_CODES.has(raw) ? raw : 'INTERNAL') as HrsegErrorCode;
    return new HrsegError(code, error.message, { cause: error });
  }
  return error;
}

/** Runs a synchronous native call, converting its errors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw fromNative(error);
  }
}

/** Awaits a native Promise, converting its rejection. */
export async function awaitNative<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw fromNative(error);
  }
}
