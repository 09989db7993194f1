/** `hrseg segment`: one image, one instruction → the answer and the mask. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { loadImage } from '../image.js';
import { maskPng, overlayPng, writeAtomic } from '../output.js';
import { usesProposals } from '../package/presets.js';
import { createSegmenter } from '../segmenter.js';
import { QUERY_FORMS } from '../vlm/template.js';
import { DEVICES, DEVICE_HELP, MODES, TRITON_URL_HELP, UsageError, choice, controller, need, tritonOption, type Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      'triton-url': { type: 'string' },
      out: { type: 'string' },
      overlay: { type: 'string' },
      json: { type: 'boolean' },
      form: { type: 'string' },
      mode: { type: 'string' },
      progress: { type: 'boolean' },
    },
  });
  const [imagePath, instruction] = positionals;
  need(imagePath, '<image>');
  if (instruction === undefined) throw new UsageError('missing <instruction>');
  const model = need(values.model, '--model <dir>');
  const device = choice(values.device, DEVICES, '--device');
  const form = choice(values.form, QUERY_FORMS, '--form');
  const mode = choice(values.mode, MODES, '--mode');
  if (positionals.length > 2) throw new UsageError(`unexpected argument '${positionals[2]}' (quote the instruction)`);
  const triton = tritonOption(values['triton-url'], device);
  const image = await loadImage(imagePath, { signal: controller.signal });
  const segmenter = await createSegmenter({ model, device, ...triton, signal: controller.signal });
  try {
    const showProgress = values.progress ?? process.stderr.isTTY;
    let lastStage = '';
    const result = await segmenter.segment(image, instruction, {
      form,
      mode,
      signal: controller.signal,
      onProgress: showProgress
        ? (stage, done, total) => {
            const line = `${stage} ${done}/${total}`;
            if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
            else if (stage !== lastStage || done === total) process.stderr.write(`${line}\n`);
            lastStage = stage;
          }
        : undefined,
    });
    const writes: Promise<void>[] = [];
    if (values.out) writes.push(maskPng(result.mask, result.width, result.height).then((png) => writeAtomic(values.out!, png)));
    if (values.overlay) writes.push(overlayPng(image, result.mask).then((png) => writeAtomic(values.overlay!, png)));
    await Promise.all(writes);
    let area = 0;
    for (const v of result.mask) area += v;
    if (values.json) {
      const { proposals, segments, mask: _mask, ...rest } = result;
      console.log(
        JSON.stringify(
          {
            ...rest,
            area,
            proposals: proposals.masks.dims[0],
            segments: segments.map((s) => ({ chosen: s.chosen, fallback: s.fallback, similarity: [...s.similarity], iop: [...s.iop] })),
            out: values.out ? resolve(values.out) : null,
            overlay: values.overlay ? resolve(values.overlay) : null,
          },
          null,
          2,
        ),
      );
    } else {
      console.log(`answer: ${result.answer}`);
      const lisa = !usesProposals(segmenter.model.preset);
      const from = lisa
        ? `${result.segments.length} [SEG] mask${result.segments.length === 1 ? '' : 's'} from LISA's decoder`
        : `proposals ${result.chosen.join(', ') || 'none'} of ${proposals(result)}`;
      console.log(`mask: ${area} of ${result.width}×${result.height} pixels, ${from}`);
      if (result.segments.some((s) => s.fallback)) console.log('note: no proposal passed the selection rule; the most similar one was taken');
      if (result.segments.length === 0) console.log('note: the answer has no [SEG]; the mask is empty');
      console.log(`time: ${result.timings.total.toFixed(0)} ms`);
      if (values.out) console.log(`wrote ${values.out}`);
      if (values.overlay) console.log(`wrote ${values.overlay}`);
    }
  } finally {
    await segmenter.dispose();
  }
}

const proposals = (r: { proposals: { masks: { dims: readonly number[] } } }) => r.proposals.masks.dims[0];

export const segmentCommand: Command = {
  name: 'segment',
  summary: 'segments what an instruction asks for in an image',
  help: `usage: hrseg segment <image> <instruction> --model <dir> [options]

Prints the model's answer and which proposals make the mask; writes the mask as a PNG.

  --model <dir>          the model package (required)
  --device <d>           ${DEVICE_HELP}
  ${TRITON_URL_HELP}
  --out <file.png>       write the mask (255 on 0), replaced whole or not at all
  --overlay <file.png>   write the image with the mask tinted over it
  --json                 print the result as JSON instead of lines
  --form <f>             how the instruction is phrased in the prompt: sentence, phrase or chat
                         (default: the package's)
  --mode <m>             generate or teacher-forced (the evaluation protocol); default: the package's
  --progress             show the proposal stage's progress (default on a terminal)
  -h, --help             this help`,
  run,
};
