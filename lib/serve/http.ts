/** The small HTTP pieces of `hrseg serve`: typed errors, JSON answers, headers every answer carries, bodies read within a limit. */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { HrsegError } from '../errors.js';

/** An answer other than 2xx, with a stable `code` for clients to branch on. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS: Partial<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_IMAGE: 400,
  IMAGE_TOO_LARGE: 413,
  ABORTED: 499,
  OUT_OF_MEMORY: 503,
  UNAVAILABLE: 503,
};

// Messages leave the machine: a path in one says where the model lives and who runs it.
const ABSOLUTE_PATH = /(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?/g;
export const redactPaths = (text: string): string => text.replace(ABSOLUTE_PATH, '<path>');

export function errorBody(e: unknown): { status: number; error: { code: string; message: string }; headers: Record<string, string> } {
  if (e instanceof HttpError) return { status: e.status, error: { code: e.code, message: e.message }, headers: e.headers };
  if (e instanceof HrsegError) {
    const status = STATUS[e.code] ?? 500;
    // A failure of ours tells a client nothing it can act on; the details go to the server's log.
    if (status >= 500 && e.code !== 'OUT_OF_MEMORY') {
      console.error(`hrseg serve: ${e.code}: ${e.message}`);
      return { status, error: { code: e.code, message: 'the server failed on this request (its log says why)' }, headers: {} };
    }
    return { status, error: { code: e.code, message: redactPaths(e.message) }, headers: {} };
  }
  console.error('hrseg serve: internal error:', e);
  return { status: 500, error: { code: 'INTERNAL', message: 'the server failed on this request (its log says why)' }, headers: {} };
}

/**
 * Set on every answer, errors included. nosniff: a JSON or PNG answer is never run as script;
 * no-referrer: a token in the page's address never leaves in a Referer; frame-ancestors 'none':
 * no other site can frame the page to click through it; same-origin resource policy: no other
 * site can embed an answer.
 */
export function setSafetyHeaders(res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  res.setHeader('cache-control', 'no-store');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body, refused with 413 as soon as it passes `limit` (Content-Length first). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, 'TOO_LARGE', `the upload is ${declared} bytes, over the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new HttpError(413, 'TOO_LARGE', `the upload is over the limit of ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
    // The client went away or was timed out mid-body: nobody is left to answer, nothing to log.
    throw new HttpError(400, 'INCOMPLETE_BODY', 'the request body was cut off');
  }
  return Buffer.concat(chunks);
}

/** The media type without parameters, lower case ('' when absent). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}
