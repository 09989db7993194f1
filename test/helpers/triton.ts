/**
 * A real tritonserver for tests (scripts/triton/install.sh puts it outside the repo): started on
 * free loopback ports, waited for until its gRPC endpoint says ready, and stopped by its own PID.
 * It listens on 127.0.0.1 only; nothing here talks to any other address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

import type { SegmentResult } from '../../lib/segmenter.js';
import { TritonClient } from '../../lib/triton/client.js';
import { DEMO_RECTS } from '../../scripts/models/demo-package.js';
import { rectangleScene } from '../../scripts/models/tiny-sam.js';

export const tritonHome = (): string =>
  process.env.HRSEG_TRITON_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hrseg', 'pytriton-0.7.0');

/** Why no server can be started here (install.sh has not run), undefined when one can. */
export function tritonMissing(): string | undefined {
  const home = tritonHome();
  if (!existsSync(join(home, 'bin', 'tritonserver')) || !existsSync(join(home, 'env.sh')))
    return `no tritonserver in ${home} (bash scripts/triton/install.sh installs it)`;
  return undefined;
}

/** env.sh's `export NAME="value"` lines, with its ${VAR:+:$VAR} tails taken from this process. */
function serverEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const line of readFileSync(join(home, 'env.sh'), 'utf8').split('\n')) {
    const m = /^export (\w+)="(.*)"$/.exec(line);
    if (!m) continue;
    const [, name, raw] = m as unknown as [string, string, string];
    env[name] = raw.replace(/\$\{(\w+):\+:\$\w+\}/g, (_, v: string) => (env[v] ? `:${env[v]}` : ''));
  }
  // One ONNX Runtime thread per model instance: the CI machine has 2 cores for all of them.
  env.HRSEG_TRITON_THREADS ??= '1';
  return env;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface TritonPorts {
  grpc: number;
  http: number;
}

export class TritonServer {
  #log = '';
  #exited: Promise<number | null>;

  private constructor(
    readonly repository: string,
    readonly ports: TritonPorts,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (b: Buffer) => (this.#log = (this.#log + b.toString()).slice(-20_000)));
    child.stderr!.on('data', (b: Buffer) => (this.#log = (this.#log + b.toString()).slice(-20_000)));
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get url(): string {
    return `127.0.0.1:${this.ports.grpc}`;
  }
  get pid(): number {
    return this.child.pid!;
  }
  get log(): string {
    return this.#log;
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts tritonserver on `repository` (on `ports` again for a restart) and waits until it is ready. */
  static async start(repository: string, ports?: TritonPorts): Promise<TritonServer> {
    const home = tritonHome();
    const p = ports ?? { grpc: await freePort(), http: await freePort() };
    const env = serverEnv(home);
    const child = spawn(
      join(home, 'bin', 'tritonserver'),
      [
        `--model-repository=${repository}`,
        `--backend-directory=${env.HRSEG_TRITON_BACKENDS}`,
        '--grpc-address=127.0.0.1',
        `--grpc-port=${p.grpc}`,
        '--http-address=127.0.0.1',
        `--http-port=${p.http}`,
        '--allow-metrics=false',
        '--exit-timeout-secs=5',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new TritonServer(repository, p, child);
    const client = new TritonClient(server.url, { deadlineMs: 1000 });
    try {
      // Bounded by attempts, not by a clock: about 2 minutes at 0.5 s each on a loaded machine.
      for (let attempt = 0; attempt < 240; attempt++) {
        if (!server.running) throw new Error(`tritonserver exited before it was ready:\n${server.log.slice(-4000)}`);
        if (await client.serverReady().catch(() => false)) return server;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`tritonserver was not ready after 240 attempts:\n${server.log.slice(-4000)}`);
    } catch (e) {
      await server.stop();
      throw e;
    } finally {
      client.close();
    }
  }

  /** Kills the server at once (SIGKILL to its own PID): its python stubs notice and exit. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.#exited;
  }

  /** Freezes the server (SIGSTOP to its PID): connections stay open, nothing answers. */
  pause(): void {
    if (this.running) this.child.kill('SIGSTOP');
  }
  resume(): void {
    if (this.running) this.child.kill('SIGCONT');
  }

  /** SIGTERM to its PID, SIGKILL if it has not exited after its own exit timeout. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.resume();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** The k-th of several demo scenes (the demo's four shapes with their colours rotated by k places): distinct images for several front ends. */
export function frontEndScene(k: number): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const rects = DEMO_RECTS.map((r, i) => ({ ...r, colour: DEMO_RECTS[(i + k) % DEMO_RECTS.length]!.colour }));
  const s = rectangleScene(640, 480, rects);
  return { data: s.rgb, width: s.width, height: s.height, channels: 3 };
}

/** The two instructions each front end asks of each image. */
export const FRONT_END_INSTRUCTIONS = [
  ['the red shape', 'phrase'],
  ['Which shape is green?', 'sentence'],
] as const;

/** What a front-end process reports of one result: exact parts as they are or hashed, scores as numbers (compared within 1e-5). */
export interface ResultSummary {
  answer: string;
  chosen: number[];
  mask: string;
  proposals: string;
  counts: unknown;
  iou: number[];
  segments: { chosen: number[]; fallback: boolean; mask: string; similarity: number[]; iop: number[] }[];
}

const sha = (a: ArrayBufferView) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');

export function summarize(r: SegmentResult): ResultSummary {
  return {
    answer: r.answer,
    chosen: [...r.chosen],
    mask: sha(r.mask),
    proposals: sha(r.proposals.masks.data),
    counts: r.proposals.counts,
    iou: [...r.proposals.iou.data],
    segments: r.segments.map((s) => ({ chosen: [...s.chosen], fallback: s.fallback, mask: sha(s.mask), similarity: [...s.similarity], iop: [...s.iop] })),
  };
}
