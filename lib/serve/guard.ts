/**
 * Who may talk to `hrseg serve`. Binding to loopback keeps other machines out but not the pages a
 * browser on this machine visits: a page can point a name of its own at 127.0.0.1 (DNS
 * rebinding) and read the answers as same-origin, or post to the server from its own origin. So
 * every request must name an allowed Host, every request that changes state must come from an
 * allowed Origin (or from no browser at all), and beyond loopback every API request must carry the
 * server's token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

import { HrsegError } from '../errors.js';
import { HttpError } from './http.js';

export const MIN_TOKEN_LENGTH = 16;

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

const isWildcard = (host: string) => ['0.0.0.0', '::', '[::]'].includes(host);

/** A name as it appears in a Host header: lower case, IPv6 literals bracketed. */
function hostName(name: string): string {
  const n = name.toLowerCase();
  return isIP(n) === 6 ? `[${n}]` : n;
}

/** A fresh token, as Jupyter makes one: 192 random bits. */
export const newToken = (): string => randomBytes(24).toString('base64url');

export function checkToken(token: string | undefined, host: string): void {
  if (token === undefined) {
    if (!isLoopback(host))
      throw new HrsegError(
        'INVALID_ARGUMENT',
        `host ${host} is not a loopback address: serving beyond this machine needs a token (option token, or --token / HRSEG_SERVE_TOKEN; the CLI makes one when neither is given)`,
      );
    return;
  }
  if (token.length < MIN_TOKEN_LENGTH || /[^\x21-\x7e]/.test(token))
    throw new HrsegError('INVALID_ARGUMENT', `the token must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces (got ${token.length})`);
}

export interface GuardOptions {
  /** The address bound. */
  host: string;
  /** The port bound. */
  port: number;
  /** Further names clients may use (a reverse proxy's): `name` or `name:port`. */
  allowHosts?: readonly string[];
  token?: string;
}

export class Guard {
  readonly allowed: ReadonlySet<string>;
  readonly cookieName: string;
  readonly #tokenDigest: Buffer | undefined;

  constructor(readonly options: GuardOptions) {
    const { host, port } = options;
    const names = new Set<string>([hostName(host)]);
    if (isLoopback(host) || isWildcard(host)) for (const n of ['localhost', '127.0.0.1', '[::1]']) names.add(n);
    // Bound to every interface, the machine is reached by its name or any of its addresses.
    if (isWildcard(host)) {
      names.add(hostName(hostname()));
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(hostName(a.address));
    }
    names.delete('0.0.0.0');
    names.delete('[::]');
    const allowed = new Set<string>();
    for (const n of names) {
      allowed.add(`${n}:${port}`);
      if (port === 80) allowed.add(n);
    }
    for (const extra of options.allowHosts ?? []) {
      const e = extra.trim().toLowerCase();
      if (!e || /[\s/@?#]/.test(e)) throw new HrsegError('INVALID_ARGUMENT', `allowHosts: '${extra}' is not a host name (name or name:port)`);
      const hasPort = /:\d+$/.test(e) && !(isIP(e) === 6);
      if (hasPort) allowed.add(e);
      else {
        // Without a port: this port, or none (a proxy in front on its scheme's default port).
        allowed.add(`${hostName(e)}:${port}`);
        allowed.add(hostName(e));
      }
    }
    this.allowed = allowed;
    // Cookies are per host, not per port: the port in the name keeps two servers' tokens apart.
    this.cookieName = `hrseg_token_${port}`;
    this.#tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  get hasToken(): boolean {
    return this.#tokenDigest !== undefined;
  }

  /** 403 unless the Host header names this server exactly (no prefix or suffix match; empty refused). */
  checkHost(req: IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase();
    if (host && this.allowed.has(host)) return;
    throw new HttpError(
      403,
      'HOST_NOT_ALLOWED',
      `Host '${host}' is not one this server answers to (${[...this.allowed].join(', ')}); start it with --allow-host <name> to add a name (a reverse proxy's)`,
    );
  }

  /**
   * 403 when a browser says the request comes from another origin. State-changing requests from a
   * browser always carry Origin; a client that is no browser sends none and is let through (it
   * could send any Host and Origin anyway; the token is what stops it beyond loopback).
   */
  checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let host = '';
    try {
      const u = new URL(origin);
      if (u.protocol === 'http:' || u.protocol === 'https:') host = u.host.toLowerCase();
    } catch {
      // 'null' (a sandboxed frame, a file: page) and anything unparsable: refused below.
    }
    if (host && this.allowed.has(host)) return;
    throw new HttpError(
      403,
      'ORIGIN_NOT_ALLOWED',
      `requests from origin '${origin}' are refused; a page served elsewhere cannot use this server (--allow-host <name> adds a name)`,
    );
  }

  /** 401 unless the request carries the token (Authorization: Bearer, or the page's cookie); compared in constant time. */
  checkToken(req: IncomingMessage): void {
    if (!this.#tokenDigest) return;
    const given = bearer(req.headers.authorization) ?? cookie(req.headers.cookie, this.cookieName);
    // Digests have one length, so timingSafeEqual compares all of them whatever was sent.
    if (given !== undefined && timingSafeEqual(digest(given), this.#tokenDigest)) return;
    throw new HttpError(
      401,
      given === undefined ? 'TOKEN_REQUIRED' : 'TOKEN_INVALID',
      given === undefined
        ? 'this server needs its token: open the address it printed (…/?token=…), or send Authorization: Bearer <token>'
        : 'the token is wrong: open the address the server printed, or send the token it was started with',
      { 'www-authenticate': 'Bearer' },
    );
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1] : undefined;
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return undefined;
}
