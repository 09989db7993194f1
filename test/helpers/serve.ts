/** Talking to `hrseg serve` in tests: its Server-Sent Events, its PNG masks, and raw HTTP with any headers. */
import { request } from 'node:http';

import sharp from 'sharp';

export interface Sse {
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A text/event-stream body → its events, each `event:` name with its JSON `data:`. */
export function parseSse(text: string): Sse[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)![1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) }));
}

/** A PNG data URL's pixels, one byte per pixel (0/1). */
export async function maskOf(url: string): Promise<{ mask: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(url.split(',')[1], 'base64'))
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { mask: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)), width: info.width, height: info.height };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * One request with exactly these headers (fetch will not send a Host of our choosing); `host: ''`
 * sends an empty Host. Loopback only: `base` is a server's url.
 */
export function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array | string): Promise<RawResponse> {
  const u = new URL(path, base);
  if (!['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname)) throw new Error(`tests talk to loopback only, not ${u.hostname}`);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, agent: false, method, path: u.pathname + u.search, headers, setHost: !('host' in headers) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
