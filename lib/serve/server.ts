/**
 * `hrseg serve`: one page and a small HTTP API over the public Segmenter (no second pipeline).
 *
 *   GET    /                         the page (assets/serve: plain HTML, CSS, JS; nothing external)
 *   GET    /api/info                 model, device, limits
 *   POST   /api/images               body: the image file's bytes (image/* or application/octet-stream)
 *                                    → { id, width, height, proposals, timings }
 *   POST   /api/images/:id/segment   body (application/json): { instruction, form?, mode?, outlines? }
 *                                    → Server-Sent Events: token…, scores…, result (masks as PNG
 *                                    data URLs), or error
 *   DELETE /api/images/:id           frees a prepared image now
 *
 * Who may ask (guard.ts): an allowed Host on every request, an allowed Origin (or none) on every
 * request that changes state, the expected content type, and the token on every API request when
 * there is one (always beyond loopback). How much (limits.ts): a pixel limit read from the header,
 * a few prepares and instructions at once with a bounded queue (503 past it), a deadline per
 * request, timeouts for slow clients, and prepared images in an LRU bounded by what they hold
 * (footprint.ts). A client that goes away aborts its request. Nothing is written to disk.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

import { HrsegError } from '../errors.js';
import { packageRoot } from '../native.js';
import { maskPng } from '../output.js';
import { readPackage } from '../package/manifest.js';
import type { TritonConnection } from '../engines/provider.js';
import { createSegmenter, type Device, type PreparedImage, type Segmenter, type SegmentResult } from '../segmenter.js';
import { ByteLru } from './cache.js';
import { preparedBytes } from './footprint.js';
import { checkToken, Guard } from './guard.js';
import { errorBody, HttpError, mediaType, readBody, redactPaths, sendJson, setSafetyHeaders } from './http.js';
import { defaultConcurrency, Gate } from './limits.js';
import { outlineMask } from './outline.js';
import { checkPixels } from './pixels.js';
import { QUERY_FORMS, type QueryForm } from '../vlm/template.js';

export interface ServeOptions {
  model: string;
  device?: Device;
  /** device 'triton': where the Triton server is (docs/triton.md). */
  triton?: TritonConnection;
  /** 0 picks a free port (tests). Default 7860. */
  port?: number;
  /** Default 127.0.0.1: only this machine. Any other address requires `token`. */
  host?: string;
  /** Host names clients may use besides the bound address (a reverse proxy's): `name` or `name:port`. */
  allowHosts?: readonly string[];
  /** Required on every API request when set (Authorization: Bearer, or the page's cookie); required beyond loopback. */
  token?: string;
  /** Largest upload, bytes (default 32 MiB). */
  maxUploadBytes?: number;
  /** Bytes of prepared images kept (default 1 GiB); the least recently used go first. */
  cacheBytes?: number;
  /** Largest image, pixels, read from its header before decoding (default 40 MP). */
  maxPixels?: number;
  /** Prepares (and, separately, instructions) running at once (default: sized for this machine, limits.ts). */
  maxConcurrent?: number;
  /** Requests of each kind waiting behind those; past that, 503 with Retry-After (default 4 × maxConcurrent). */
  maxQueue?: number;
  /** Per-request deadline, from arrival to the last byte of the answer, ms (default 10 minutes). */
  deadlineMs?: number;
  /** A client must send its request headers within this (default 10 s) ... */
  headersTimeoutMs?: number;
  /** ... and its whole request, body included, within this (default 2 minutes). */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunningServer {
  readonly url: string;
  /** The address to open: `url` with `?token=` when there is a token. */
  readonly pageUrl: string;
  readonly segmenter: Segmenter;
  readonly cache: ByteLru<PreparedImage>;
  close(): Promise<void>;
}

export const DEFAULT_MAX_PIXELS = 40_000_000;

const ASSETS: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};
// The page fetches nothing from outside: its own files, its API, and images it made.
const PAGE_CSP =
  "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const JSON_BODY_LIMIT = 64 * 1024;
const UPLOAD_TYPES = /^(image\/[\w.+-]+|application\/octet-stream)$/;

/** Fires when the client goes away before the answer is complete. */
function disconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(new HrsegError('ABORTED', 'the client disconnected'));
  });
  return controller.signal;
}

/** The client's going away and the deadline, as one signal; `expired()` tells which fired. */
function requestSignal(res: ServerResponse, deadlineMs: number): { signal: AbortSignal; expired: () => boolean } {
  const deadline = AbortSignal.timeout(deadlineMs);
  return { signal: AbortSignal.any([disconnectSignal(res), deadline]), expired: () => deadline.aborted };
}

const deadlineError = (ms: number) =>
  new HttpError(503, 'DEADLINE_EXCEEDED', `the request took longer than the deadline of ${Math.round(ms / 1000)} s (--deadline-s)`);

const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

async function resultBody(result: SegmentResult, prepared: PreparedImage, outlines: boolean) {
  const { width: W, height: H } = result;
  const segments = await Promise.all(
    result.segments.map(async (s) => ({ chosen: s.chosen, fallback: s.fallback, mask: dataUrl(await maskPng(s.mask, W, H)) })),
  );
  let outline: string | undefined;
  if (outlines && result.chosen.length > 0) {
    const m = result.proposals.masks;
    const [, h, w] = m.dims;
    outline = dataUrl(await maskPng(outlineMask(m.data, result.chosen, w, h, W, H), W, H));
  }
  return {
    answer: result.answer,
    width: W,
    height: H,
    chosen: result.chosen,
    proposals: prepared.proposals.masks.dims[0],
    mask: dataUrl(await maskPng(result.mask, W, H)),
    segments,
    ...(outline ? { outline } : {}),
    timings: result.timings,
  };
}

function positiveInteger(v: number, what: string, min = 1): number {
  if (!Number.isInteger(v) || v < min)
    throw new HrsegError('INVALID_ARGUMENT', `${what} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${v}`);
  return v;
}

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  // Before anything is loaded or bound: an open address without a token is refused outright.
  checkToken(options.token, host);
  const maxUpload = positiveInteger(options.maxUploadBytes ?? 32 * 2 ** 20, 'maxUploadBytes');
  const cacheBytes = positiveInteger(options.cacheBytes ?? 2 ** 30, 'cacheBytes');
  const maxPixels = positiveInteger(options.maxPixels ?? DEFAULT_MAX_PIXELS, 'maxPixels');
  const maxConcurrent = positiveInteger(options.maxConcurrent ?? defaultConcurrency(maxPixels), 'maxConcurrent');
  const maxQueue = positiveInteger(options.maxQueue ?? 4 * maxConcurrent, 'maxQueue', 0);
  const deadlineMs = positiveInteger(options.deadlineMs ?? 600_000, 'deadlineMs');
  const headersTimeout = positiveInteger(options.headersTimeoutMs ?? 10_000, 'headersTimeoutMs');
  const requestTimeout = Math.max(headersTimeout, positiveInteger(options.requestTimeoutMs ?? 120_000, 'requestTimeoutMs'));

  // Checked now, before a model is loaded: a bad name fails at once.
  new Guard({ host, port: options.port ?? 7860, allowHosts: options.allowHosts, token: options.token });
  const pkg = await readPackage(options.model);
  const segmenter = await createSegmenter({
    model: options.model,
    device: options.device,
    ...(options.triton ? { triton: options.triton } : {}),
    maxPixels,
    signal: options.signal,
  });
  const cache = new ByteLru<PreparedImage>(cacheBytes, (p) => p.release());
  const prepares = new Gate('prepares', maxConcurrent, maxQueue);
  const instructions = new Gate('instructions', maxConcurrent, maxQueue);
  const assets = new Map<string, Buffer>();
  for (const [route, [file]] of Object.entries(ASSETS)) assets.set(route, await readFile(join(packageRoot, 'assets', 'serve', file)));
  // No folder, no file names: what the page shows and nothing about the machine.
  const info = {
    model: { name: pkg.name, trained: pkg.trained, preset: pkg.preset },
    device: segmenter.device,
    deviceReason: segmenter.deviceReason === undefined ? undefined : redactPaths(segmenter.deviceReason),
    limits: { uploadBytes: maxUpload, cacheBytes, maxPixels, maxConcurrent, maxQueue, deadlineMs },
  };
  let guard: Guard | undefined; // set once the port is known, before the first request

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = mediaType(req);
    if (!UPLOAD_TYPES.test(type))
      throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `an upload must be sent as image/* or application/octet-stream, not '${type || 'none'}'`);
    const { signal, expired } = requestSignal(res, deadlineMs);
    // A place first: a refused request's body is never read, and waiting ones hold at most (concurrent + queue) bodies.
    const ticket = prepares.admit();
    try {
      const body = await readBody(req, maxUpload);
      if (body.length === 0) throw new HttpError(400, 'EMPTY', 'the upload is empty: send the image file as the request body');
      const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      await checkPixels(bytes, maxPixels);
      await ticket.run(signal);
      const prepared = await segmenter.prepare(bytes, { signal });
      const id = randomUUID();
      cache.add(id, prepared, preparedBytes(prepared));
      sendJson(res, 201, { id, width: prepared.width, height: prepared.height, proposals: prepared.proposals.masks.dims[0], timings: prepared.timings });
    } catch (e) {
      throw expired() ? deadlineError(deadlineMs) : e;
    } finally {
      ticket.release();
    }
  }

  async function segment(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = mediaType(req);
    if (type !== 'application/json')
      throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `an instruction must be sent as application/json, not '${type || 'none'}'`);
    const { signal, expired } = requestSignal(res, deadlineMs);
    let body: { instruction?: unknown; form?: unknown; mode?: unknown; outlines?: unknown };
    try {
      body = JSON.parse((await readBody(req, JSON_BODY_LIMIT)).toString('utf8') || '{}');
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, 'BAD_JSON', 'the body must be JSON: { "instruction": "…" }');
    }
    if (typeof body !== 'object' || body === null) throw new HttpError(400, 'BAD_JSON', 'the body must be a JSON object: { "instruction": "…" }');
    if (typeof body.instruction !== 'string' || body.instruction.trim() === '')
      throw new HttpError(400, 'INVALID_ARGUMENT', 'instruction must be a non-empty string');
    if (body.form !== undefined && !QUERY_FORMS.includes(body.form as QueryForm))
      throw new HttpError(400, 'INVALID_ARGUMENT', `form must be one of ${QUERY_FORMS.join(', ')}`);
    if (body.mode !== undefined && body.mode !== 'generate' && body.mode !== 'teacher-forced')
      throw new HttpError(400, 'INVALID_ARGUMENT', "mode must be 'generate' or 'teacher-forced'");
    const gone = () => new HttpError(404, 'UNKNOWN_IMAGE', `no prepared image ${id} (it may have been evicted: upload it again)`);
    if (!cache.has(id)) throw gone();
    const ticket = instructions.admit();
    let held: ReturnType<typeof cache.acquire>;
    try {
      await ticket.run(signal);
      // Held only once running: a waiting request keeps no evicted image alive.
      held = cache.acquire(id);
      if (!held) throw gone();
    } catch (e) {
      ticket.release();
      throw expired() ? deadlineError(deadlineMs) : e;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    try {
      for await (const e of segmenter.segmentStream(held.value, body.instruction, {
        signal,
        form: body.form as QueryForm | undefined,
        mode: body.mode as 'generate' | 'teacher-forced' | undefined,
      })) {
        if (signal.aborted) break;
        if (e.type === 'token') send('token', { id: e.id, text: e.text });
        else if (e.type === 'scores') send('scores', { segment: e.segment, chosen: e.chosen, fallback: e.fallback });
        else if (e.type === 'result') send('result', await resultBody(e.result, held.value, body.outlines === true));
      }
      if (expired()) send('error', errorBody(deadlineError(deadlineMs)).error);
    } catch (e) {
      if (expired()) send('error', errorBody(deadlineError(deadlineMs)).error);
      else if (!signal.aborted) send('error', errorBody(e).error);
    } finally {
      held.done();
      ticket.release();
      res.end();
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setSafetyHeaders(res);
    if (!guard) throw new HttpError(503, 'STARTING', 'the server is starting');
    guard.checkHost(req);
    guard.checkOrigin(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (req.method === 'GET' && ASSETS[path]) {
      // The page and its files are the same for everyone: no token, so the page can read its own from the address.
      res.writeHead(200, { 'content-type': ASSETS[path][1], 'content-security-policy': PAGE_CSP });
      res.end(assets.get(path));
      return;
    }
    if (path.startsWith('/api/')) guard.checkToken(req);
    if (req.method === 'GET' && path === '/api/info') {
      const load = (g: Gate) => ({ running: g.running, waiting: g.waiting });
      return sendJson(res, 200, { ...info, load: { prepares: load(prepares), instructions: load(instructions), cached: cache.size, cacheBytes: cache.bytes } });
    }
    if (req.method === 'POST' && path === '/api/images') return upload(req, res);
    const m = /^\/api\/images\/([0-9a-f-]{36})(\/segment)?$/.exec(path);
    if (m && req.method === 'POST' && m[2]) return segment(m[1], req, res);
    if (m && req.method === 'DELETE' && !m[2]) {
      if (!cache.delete(m[1])) throw new HttpError(404, 'UNKNOWN_IMAGE', `no prepared image ${m[1]}`);
      res.writeHead(204).end();
      return;
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${path}`);
  }

  const server: Server = createServer({ connectionsCheckingInterval: Math.min(1000, headersTimeout) }, (req, res) => {
    route(req, res).catch((e: unknown) => {
      const { status, error, headers } = errorBody(e);
      // A refused request's body is not read on: the connection closes after the answer.
      const unread = !req.complete;
      if (!res.headersSent) {
        if (unread) res.setHeader('connection', 'close');
        sendJson(res, status, { error }, headers);
      } else res.end();
      if (unread) res.once('finish', () => req.destroy());
    });
  });
  server.headersTimeout = headersTimeout;
  // The whole request, body included; answers then stream for as long as the deadline allows.
  server.requestTimeout = requestTimeout;
  let port = options.port ?? 7860;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const address = server.address();
        if (typeof address === 'object' && address) port = address.port;
        guard = new Guard({ host, port, allowHosts: options.allowHosts, token: options.token });
        resolve();
      });
    });
  } catch (e) {
    await segmenter.dispose();
    throw e;
  }
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  let closed: Promise<void> | undefined;
  return {
    url,
    pageUrl: options.token === undefined ? url : `${url}?token=${encodeURIComponent(options.token)}`,
    segmenter,
    cache,
    close() {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        cache.clear();
        await segmenter.dispose();
      })();
      return closed;
    },
  };
}
