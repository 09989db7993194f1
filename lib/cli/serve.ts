/** `hrseg serve`: a model behind a local web page and HTTP API. */
import { parseArgs } from 'node:util';

import { isLoopback, newToken } from '../serve/guard.js';
import { serve } from '../serve/server.js';
import {
  DEVICES,
  DEVICE_HELP,
  TRITON_URL_HELP,
  UsageError,
  choice,
  controller,
  need,
  positiveInt,
  positiveNumber,
  tritonOption,
  type Command,
} from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      'triton-url': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'max-upload-mb': { type: 'string' },
      'cache-mb': { type: 'string' },
      'allow-host': { type: 'string', multiple: true },
      token: { type: 'string' },
      'max-pixels': { type: 'string' },
      'max-concurrent': { type: 'string' },
      'max-queue': { type: 'string' },
      'deadline-s': { type: 'string' },
    },
  });
  const port = values.port === undefined ? 7860 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be an integer in [0, 65535]');
  const uploadMb = positiveNumber(values['max-upload-mb'], '--max-upload-mb');
  const cacheMb = positiveNumber(values['cache-mb'], '--cache-mb');
  const maxQueue = values['max-queue'] === undefined ? undefined : Number(values['max-queue']);
  if (maxQueue !== undefined && !(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new UsageError('--max-queue must be a non-negative integer');
  const deadlineS = positiveNumber(values['deadline-s'], '--deadline-s');
  // Beyond loopback a token is required: the one given, else a fresh one printed in the address (as Jupyter does).
  const host = values.host ?? '127.0.0.1';
  const token = values.token ?? (process.env.HRSEG_SERVE_TOKEN || undefined) ?? (isLoopback(host) ? undefined : newToken());
  const device = choice(values.device, DEVICES, '--device');
  const server = await serve({
    model: need(values.model, '--model <dir>'),
    device,
    ...tritonOption(values['triton-url'], device),
    port,
    host,
    allowHosts: values['allow-host'],
    token,
    maxUploadBytes: uploadMb === undefined ? undefined : Math.round(uploadMb * 2 ** 20),
    cacheBytes: cacheMb === undefined ? undefined : Math.round(cacheMb * 2 ** 20),
    maxPixels: positiveInt(values['max-pixels'], '--max-pixels'),
    maxConcurrent: positiveInt(values['max-concurrent'], '--max-concurrent'),
    maxQueue,
    deadlineMs: deadlineS === undefined ? undefined : Math.round(deadlineS * 1000),
    signal: controller.signal,
  });
  console.log(`hrseg serve: ${server.pageUrl} (device ${server.segmenter.device}; Ctrl-C stops)`);
  await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
  await server.close();
  console.log('hrseg serve: stopped');
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serves a model to a local web page and HTTP API',
  help: `usage: hrseg serve --model <dir> [options]

Serves the page and the API (docs/serving.md) until Ctrl-C. Only this machine can reach it unless
--host says otherwise, and then only with the token.

  --model <dir>          the model package (required)
  --device <d>           ${DEVICE_HELP}
  ${TRITON_URL_HELP}
  --port N               the port (default 7860; 0 picks a free one)
  --host <addr>          the address to bind (default 127.0.0.1); any other than loopback needs a
                         token, generated and printed with the address unless --token gives one
  --token <t>            the token API requests must carry (also HRSEG_SERVE_TOKEN)
  --allow-host <name>    another Host name to answer to, e.g. a reverse proxy's (repeatable)
  --max-upload-mb N      largest upload (default 32)
  --max-pixels N         largest image, read from its header before decoding (default 40000000)
  --max-concurrent N     prepares (and instructions) run at once (default: sized for this machine)
  --max-queue N          requests waiting behind those before 503 (default 4 × --max-concurrent)
  --deadline-s N         a request's deadline (default 600)
  --cache-mb N           memory for prepared images (default 1024)
  -h, --help             this help`,
  run,
};
