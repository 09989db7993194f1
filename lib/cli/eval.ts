/** `hrseg eval`: gIoU and cIoU over a ReasonSeg or LLM-Seg40K split, resumable. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { readDataset } from '../eval/datasets.js';
import { evaluate } from '../eval/evaluate.js';
import { createSegmenter } from '../segmenter.js';
import { DEVICES, DEVICE_HELP, MODES, bar, choice, controller, need, positiveInt, tritonOption, type Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      'triton-url': { type: 'string' },
      results: { type: 'string' },
      limit: { type: 'string' },
      images: { type: 'string' },
      mode: { type: 'string' },
      json: { type: 'boolean' },
      'score-size': { type: 'string' },
      'proposal-max-side': { type: 'string' },
    },
  });
  const dataset = need(positionals[0], '<dataset>');
  const scoreSize = positiveInt(values['score-size'], '--score-size');
  const proposalMaxSide = positiveInt(values['proposal-max-side'], '--proposal-max-side');
  const model = need(values.model, '--model <dir>');
  const limit = positiveInt(values.limit, '--limit');
  const mode = choice(values.mode, MODES, '--mode');
  const device = choice(values.device, DEVICES, '--device');
  const triton = tritonOption(values['triton-url'], device);
  const resultsFile = values.results ?? 'hrseg-eval-results.jsonl';
  const samples = await readDataset(dataset, values.images);
  const segmenter = await createSegmenter({ model, device, ...triton, signal: controller.signal });
  const started = performance.now();
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  try {
    const summary = await evaluate(segmenter, samples, {
      resultsFile,
      limit,
      mode,
      scoreSize,
      proposalMaxSide,
      signal: controller.signal,
      onProgress(done, total) {
        const now = performance.now();
        if (tty) process.stderr.write(`\r${bar(done, total, started)}`);
        else if (now - lastLine > 5000 || done === total) {
          lastLine = now;
          process.stderr.write(`${bar(done, total, started)}\n`);
        }
      },
    });
    if (tty) process.stderr.write('\n');
    if (values.json) console.log(JSON.stringify({ ...summary, results: resolve(resultsFile) }));
    else {
      console.log(`samples: ${summary.samples} (${summary.skipped} from ${resultsFile})`);
      console.log(`gIoU: ${(100 * summary.gIoU).toFixed(2)}`);
      console.log(`cIoU: ${(100 * summary.cIoU).toFixed(2)}`);
      console.log(`per-sample results: ${resultsFile}`);
    }
  } finally {
    await segmenter.dispose();
  }
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'scores a model on a ReasonSeg or LLM-Seg40K split (gIoU, cIoU)',
  help: `usage: hrseg eval <ReasonSeg folder | LLM-Seg40K .json> --model <dir> [options]

Runs every sample, appends one line per sample to the results file (a rerun resumes from it) and
prints gIoU and cIoU.

  --model <dir>              the model package (required)
  --results <file.jsonl>     per-sample results (default hrseg-eval-results.jsonl)
  --limit N                  the first N samples only
  --images <dir>             where an LLM-Seg40K .json's images are
  --mode <m>                 generate or teacher-forced (default: the package's evalMode)
  --device <d>               ${DEVICE_HELP}
  --triton-url <h:p>         --device triton: the Triton server's gRPC endpoint (docs/triton.md)
  --score-size N             score at this longest side, as LLM-Seg's scorer does
  --proposal-max-side N      run SAM on the image shrunk to this longest side
  --json                     print the summary as JSON
  -h, --help                 this help`,
  run,
};
