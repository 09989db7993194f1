/**
 * `hrseg serve`: one page and a small HTTP API over the public Segmenter (no second pipeline).
 *
 *   GET    /                         the page (assets/serve: plain HTML, CSS, JS; nothing external)
 *   GET    /api/info                 model, device, limits
 *   POST   /api/images               body: the image file's bytes → { id, width, height, proposals, timings }
 *   POST   /api/images/:id/segment   body: { instruction, form?, mode?, outlines? } → Server-Sent Events:
 *                                    prepared?, token…, scores…, result (masks as PNG data URLs), or error
 *   DELETE /api/images/:id           frees a prepared image now
 *
 * Prepared images live in a byte-bounded LRU (ByteLru). Requests to the segmenter queue as the API
 * queues them; a client that goes away aborts its request (an AbortSignal into the pipeline).
 * Bodies over the limit are refused before they are read whole. Nothing is written to disk.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

import { HrsegError } from '../errors.js';
import { packageRoot } from '../native.js';
import { maskPng } from '../output.js';
import { readPackage } from '../package/manifest.js';
import { createSegmenter, type Device, type PreparedImage, type Segmenter, type SegmentResult } from '../segmenter.js';
import { ByteLru } from './cache.js';
import { outlineMask } from './outline.js';
import { QUERY_FORMS, type QueryForm } from '../vlm/template.js';

export interface ServeOptions {
  model: string;
  device?: Device;
  /** 0 picks a free port (tests). Default 7860. */
  port?: number;
  /** Default 127.0.0.1: only this machine. */
  host?: string;
  /** Largest upload, bytes (default 32 MiB). */
  maxUploadBytes?: number;
  /** Bytes of prepared images kept (default 1 GiB); the least recently used go first. */
  cacheBytes?: number;
  /** Largest decoded image, pixels (the segmenter's maxPixels; default 40 MP). */
  maxPixels?: number;
  signal?: AbortSignal;
}

export interface RunningServer {
  readonly url: string;
  readonly segmenter: Segmenter;
  readonly cache: ByteLru<PreparedImage>;
  close(): Promise<void>;
}

const ASSETS: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};
const JSON_BODY_LIMIT = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
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
};

function errorBody(e: unknown): { status: number; error: { code: string; message: string } } {
  if (e instanceof HttpError) return { status: e.status, error: { code: e.code, message: e.message } };
  if (e instanceof HrsegError) return { status: STATUS[e.code] ?? 500, error: { code: e.code, message: e.message } };
  return { status: 500, error: { code: 'INTERNAL', message: (e as Error)?.message ?? String(e) } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body, refused with 413 as soon as it passes `limit` (Content-Length first). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, 'TOO_LARGE', `the upload is ${declared} bytes, over the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'TOO_LARGE', `the upload is over the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
function disconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(new HrsegError('ABORTED', 'the client disconnected'));
  });
  return controller.signal;
}

function preparedBytes(p: PreparedImage): number {
  const f = p.features;
  const arrays = [
    p.proposals.masks.data,
    p.vlm.embeddings.data,
    p.vlm.lastHidden,
    ...(f ? [f.region.data, f.hybrid.data, f.mHrp.data, f.mHre.data] : []),
    ...(p.samEmbedding ? [p.samEmbedding.data] : []),
  ];
  return arrays.reduce((n, a) => n + a.byteLength, 0);
}

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

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const maxUpload = options.maxUploadBytes ?? 32 * 2 ** 20;
  const cacheBytes = options.cacheBytes ?? 2 ** 30;
  for (const [v, what] of [
    [maxUpload, 'maxUploadBytes'],
    [cacheBytes, 'cacheBytes'],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new HrsegError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${v}`);
  const pkg = await readPackage(options.model);
  const segmenter = await createSegmenter({ model: options.model, device: options.device, maxPixels: options.maxPixels, signal: options.signal });
  const cache = new ByteLru<PreparedImage>(cacheBytes, (p) => p.release());
  const assets = new Map<string, Buffer>();
  for (const [route, [file]] of Object.entries(ASSETS)) assets.set(route, await readFile(join(packageRoot, 'assets', 'serve', file)));
  const info = {
    model: { name: pkg.name, dir: pkg.dir, trained: pkg.trained, preset: pkg.preset },
    device: segmenter.device,
    deviceReason: segmenter.deviceReason,
    limits: { uploadBytes: maxUpload, cacheBytes, maxPixels: options.maxPixels ?? null },
  };

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, maxUpload);
    if (body.length === 0) throw new HttpError(400, 'EMPTY', 'the upload is empty: send the image file as the request body');
    const signal = disconnectSignal(res);
    const prepared = await segmenter.prepare(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), { signal });
    const id = randomUUID();
    cache.add(id, prepared, preparedBytes(prepared));
    sendJson(res, 201, { id, width: prepared.width, height: prepared.height, proposals: prepared.proposals.masks.dims[0], timings: prepared.timings });
  }

  async function segment(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: { instruction?: unknown; form?: unknown; mode?: unknown; outlines?: unknown };
    try {
      body = JSON.parse((await readBody(req, JSON_BODY_LIMIT)).toString('utf8') || '{}');
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, 'BAD_JSON', 'the body must be JSON: { "instruction": "…" }');
    }
    if (typeof body.instruction !== 'string' || body.instruction.trim() === '')
      throw new HttpError(400, 'INVALID_ARGUMENT', 'instruction must be a non-empty string');
    if (body.form !== undefined && !QUERY_FORMS.includes(body.form as QueryForm))
      throw new HttpError(400, 'INVALID_ARGUMENT', `form must be one of ${QUERY_FORMS.join(', ')}`);
    if (body.mode !== undefined && body.mode !== 'generate' && body.mode !== 'teacher-forced')
      throw new HttpError(400, 'INVALID_ARGUMENT', "mode must be 'generate' or 'teacher-forced'");
    const held = cache.acquire(id);
    if (!held) throw new HttpError(404, 'UNKNOWN_IMAGE', `no prepared image ${id} (it may have been evicted: upload it again)`);
    const signal = disconnectSignal(res);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
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
    } catch (e) {
      if (!signal.aborted) send('error', errorBody(e).error);
    } finally {
      held.done();
      res.end();
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (req.method === 'GET' && ASSETS[path]) {
      res.writeHead(200, {
        'content-type': ASSETS[path][1],
        'cache-control': 'no-store',
        // The page fetches nothing from outside: its own files, its API, and images it made.
        'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'",
        'x-content-type-options': 'nosniff',
      });
      res.end(assets.get(path));
      return;
    }
    if (req.method === 'GET' && path === '/api/info') return sendJson(res, 200, info);
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

  const server: Server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      const { status, error } = errorBody(e);
      if (!res.headersSent) {
        // An oversize body is not read on: the connection is closed after the answer.
        if (status === 413) res.setHeader('connection', 'close');
        sendJson(res, status, { error });
      } else res.end();
      if (status === 413) req.destroy();
    });
  });
  server.requestTimeout = 0; // answers stream for as long as the model writes
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7860, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host ?? '127.0.0.1';
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
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
