/** `hrseg serve`: a model behind a local web page and HTTP API. */
import { parseArgs } from 'node:util';

import { serve } from '../serve/server.js';
import { DEVICES, DEVICE_HELP, UsageError, choice, controller, need, positiveNumber, type Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'max-upload-mb': { type: 'string' },
      'cache-mb': { type: 'string' },
    },
  });
  const port = values.port === undefined ? 7860 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be an integer in [0, 65535]');
  const uploadMb = positiveNumber(values['max-upload-mb'], '--max-upload-mb');
  const cacheMb = positiveNumber(values['cache-mb'], '--cache-mb');
  const server = await serve({
    model: need(values.model, '--model <dir>'),
    device: choice(values.device, DEVICES, '--device'),
    port,
    host: values.host,
    maxUploadBytes: uploadMb === undefined ? undefined : Math.round(uploadMb * 2 ** 20),
    cacheBytes: cacheMb === undefined ? undefined : Math.round(cacheMb * 2 ** 20),
    signal: controller.signal,
  });
  console.log(`hrseg serve: ${server.url} (device ${server.segmenter.device}; Ctrl-C stops)`);
  await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
  await server.close();
  console.log('hrseg serve: stopped');
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serves a model to a local web page and HTTP API',
  help: `usage: hrseg serve --model <dir> [options]

Serves the page and the API (docs/serving.md) until Ctrl-C.

  --model <dir>          the model package (required)
  --device <d>           ${DEVICE_HELP}
  --port N               the port (default 7860; 0 picks a free one)
  --host <addr>          the address to bind (default 127.0.0.1)
  --max-upload-mb N      largest upload (default 32)
  --cache-mb N           memory for prepared images (default 1024)
  -h, --help             this help`,
  run,
};
