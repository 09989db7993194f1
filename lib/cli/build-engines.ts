/** `hrseg build-engines`: TensorRT engines for this GPU from a package. */
import { parseArgs } from 'node:util';

import { PRECISIONS } from '../onnx/typed.js';
import { buildEngines } from '../trt/build.js';
import { UsageError, choice, controller, need, positiveInt, type Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      precision: { type: 'string' },
      gpu: { type: 'string' },
      workspace: { type: 'string' },
      context: { type: 'string' },
      component: { type: 'string', multiple: true },
      force: { type: 'boolean' },
    },
  });
  const model = need(values.model, '--model <dir>');
  const precision = choice(values.precision, PRECISIONS, '--precision');
  const gpu = values.gpu === undefined ? undefined : Number(values.gpu);
  if (gpu !== undefined && (!Number.isInteger(gpu) || gpu < 0)) throw new UsageError('--gpu must be a device ordinal (0, 1, ...)');
  const tty = process.stderr.isTTY;
  let last = 0;
  const result = await buildEngines({
    model,
    precision,
    gpu,
    workspaceMiB: positiveInt(values.workspace, '--workspace'),
    context: positiveInt(values.context, '--context'),
    components: values.component,
    force: values.force,
    signal: controller.signal,
    onProgress: (e) => {
      const head = `[${e.index}/${e.count}] ${e.component}`;
      if (e.state !== 'building') {
        if (tty) process.stderr.write('\r\x1b[K');
        console.error(`${head}: ${e.state}`);
        return;
      }
      // TensorRT reports many steps; a terminal gets a live line, a log one line per outer phase step.
      const now = performance.now();
      const line = `${head}: ${'  '.repeat(e.depth ?? 0)}${e.phase} ${e.step}/${e.steps}`;
      if (tty && now - last > 100) {
        process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
        last = now;
      } else if (!tty && e.depth === 0) console.error(line);
    },
  });
  console.log(`engines in ${result.dir}: built ${result.built.length} (${result.built.join(', ') || 'none'}), reused ${result.reused.length}`);
}

export const buildEnginesCommand: Command = {
  name: 'build-engines',
  summary: "builds the package's TensorRT engines for this GPU",
  help: `usage: hrseg build-engines --model <dir> [options]

Builds one engine per component into <dir>/engines/<gpu>-<tensorrt>-<precision>/, with a sidecar
saying what they were built for; engines already built for this machine are reused.

  --model <dir>          the model package (required)
  --precision <p>        fp16 (default), bf16 or fp32
  --gpu N                the CUDA device ordinal (default 0)
  --workspace MiB        TensorRT's workspace limit (default: TensorRT's own)
  --context N            tokens the VLM's key/value cache holds (default 2048)
  --component <name>     build only this component (repeatable)
  --force                rebuild even what could be reused
  -h, --help             this help`,
  run,
};
