/** `hrseg convert`: the checkpoints people download → a model package. */
import { parseArgs } from 'node:util';

import { convert } from '../convert/convert.js';
import { RANDOM_ARCHS } from '../convert/random.js';
import { PRECISIONS } from '../onnx/typed.js';
import { UsageError, choice, controller, duration, need, positiveInt, positiveNumber, type Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sam: { type: 'string' },
      dino: { type: 'string' },
      out: { type: 'string' },
      base: { type: 'string' },
      'dino-size': { type: 'string' },
      'dino-table': { type: 'string' },
      quantize: { type: 'string' },
      'quantize-block': { type: 'string' },
      'quantize-vision': { type: 'string' },
      random: { type: 'string' },
      precision: { type: 'string' },
      force: { type: 'boolean' },
      llmseg: { type: 'string' },
      vlm: { type: 'string' },
      lisa: { type: 'string' },
      clip: { type: 'string' },
      tokenizer: { type: 'string' },
      'lora-alpha': { type: 'string' },
      'rms-eps': { type: 'string' },
      'llama-heads': { type: 'string' },
    },
  });
  const out = need(values.out, '--out <dir>');
  const precision = choice(values.precision, PRECISIONS, '--precision');
  let { sam, dino, llmseg } = values;
  for (const arch of values.random?.split(',').filter(Boolean) ?? []) {
    if (!(RANDOM_ARCHS as readonly string[]).includes(arch))
      throw new UsageError(`--random: unknown architecture '${arch}' (one of ${RANDOM_ARCHS.join(', ')})`);
    if (arch.startsWith('sam-')) sam = `random:${arch}`;
    else if (arch === 'llm-seg-7b') llmseg = `random:${arch}`;
    else dino = `random:${arch}`;
  }
  // The whole LLM-Seg package at real size: SAM-H proposes (LLM-Seg used the official SAM-H).
  if (llmseg?.startsWith('random:')) sam ??= 'random:sam-vit-h';
  if (!sam && !dino && !llmseg && !values.vlm && !values.lisa) throw new UsageError('give --llmseg, --vlm, --lisa, --sam, --dino or --random');
  if (((llmseg && !llmseg.startsWith('random:')) || values.vlm || values.lisa) && !values.tokenizer)
    throw new UsageError("--llmseg, --vlm and --lisa need --tokenizer <the base model's tokenizer.json>");
  const t0 = performance.now();
  let last = '';
  let stepStart = t0;
  let lastLog = t0;
  const result = await convert({
    sam,
    dino,
    out,
    base: values.base,
    dinoSize: positiveInt(values['dino-size'], '--dino-size'),
    dinoTable: choice(values['dino-table'], ['official', 'transformers'] as const, '--dino-table'),
    quantize: choice(values.quantize, ['int4', 'int8'] as const, '--quantize'),
    quantizeBlock: positiveInt(values['quantize-block'], '--quantize-block'),
    quantizeVision: choice(values['quantize-vision'], ['int8'] as const, '--quantize-vision'),
    llmseg,
    lisa: values.lisa,
    vlm: values.vlm,
    clip: values.clip,
    tokenizer: values.tokenizer,
    loraAlpha: positiveNumber(values['lora-alpha'], '--lora-alpha'),
    rmsEps: positiveNumber(values['rms-eps'], '--rms-eps'),
    llamaHeads: positiveInt(values['llama-heads'], '--llama-heads'),
    precision,
    force: values.force,
    signal: controller.signal,
    onProgress({ step, done, total }) {
      const now = performance.now();
      if (done === undefined || total === undefined) {
        if (process.stderr.isTTY && last) process.stderr.write('\n');
        process.stderr.write(`[${((now - t0) / 1000).toFixed(1)}s] ${step}\n`);
        last = '';
        stepStart = now;
        return;
      }
      const seconds = (now - stepStart) / 1000,
        rate = done / Math.max(seconds, 1e-3);
      const eta = rate > 0 ? (total - done) / rate : NaN;
      const line = `  ${(done / 2 ** 20).toFixed(0)} / ${(total / 2 ** 20).toFixed(0)} MiB, ${(rate / 1e6).toFixed(0)} MB/s, eta ${duration(eta)}`;
      if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
      else if (now - lastLog > 10_000 || done === total) {
        // Logs and pipes get a line every 10 s instead of a redrawn one.
        process.stderr.write(`${line}\n`);
        lastLog = now;
      }
      last = line;
    },
  });
  if (process.stderr.isTTY && last) process.stderr.write('\n');
  for (const [key, c] of Object.entries(result.components))
    console.log(
      `${key}: ${c.file} (${(c.bytes / 2 ** 20).toFixed(1)} MiB${c.external ? ', external data' : ''}${c.precision ? `, ${c.precision}` : ''}${c.quantization ? `, ${c.quantization.type} weights (${c.quantization.blockSize === 'channel' ? 'per channel' : `block ${c.quantization.blockSize}`})${c.quantization.activations ? ' and activations' : ''}` : ''}) from ${c.source}`,
    );
  console.log(
    `package: ${result.dir}${result.complete ? '' : ` (partial: no ${result.missing.join(', ')}; pass --base <package> to take them from another package)`}`,
  );
}

export const convertCommand: Command = {
  name: 'convert',
  summary: 'turns SAM, DINOv2, LLM-Seg, LISA or LLaVA checkpoints into a model package',
  help: `usage: hrseg convert --out <dir> [sources] [options]

Builds a model package from the checkpoints given; what none gives is taken from --base or left
out (the result says which files are missing). Nothing half-written is left behind.

sources (at least one):
  --sam <checkpoint>         SAM (sam_vit_{b,l,h}*.pth or Hugging Face)
  --dino <checkpoint>        DINOv2 (dinov2_vit*14*_pretrain.pth or Hugging Face)
  --llmseg <file.pt>         LLM-Seg's mp_rank_00_model_states.pt: VLM, DINOv2 and head (needs --tokenizer)
  --vlm <checkpoint>         a LLaVA-family checkpoint (LISA-7B-v1, LLaVA) as the VLM (needs --tokenizer)
  --lisa <checkpoint>        a LISA checkpoint: the lisa preset (needs --tokenizer and --clip)
  --clip <checkpoint>        a CLIP vision tower to use instead of the one inside --llmseg/--vlm
  --tokenizer <file>         the base model's tokenizer.json or tokenizer.model
  --random <arch>[,<arch>]   random weights in a real architecture (one of: ${RANDOM_ARCHS.join(', ')})
options:
  --out <dir>                the package to write (required)
  --base <package>           take the files no source gives from this package
  --force                    replace an existing --out
  --precision <p>            fp32 (default), fp16 or bf16 graphs
  --quantize int4|int8       weight-only quantization of the LLaMA decoder's linear layers
  --quantize-block N         elements per int4 block (default 32)
  --quantize-vision int8     lossy, CPU only: SAM's and DINOv2's linear layers with int8 weights
                             and activations (~2× faster on ONNX Runtime's CPU provider)
  --dino-size N              DINOv2's view size (default 896 with --llmseg, else the base's, else 518)
  --dino-table <t>           official (default) or transformers position-table resampling
  --lora-alpha A             LoRA alpha (LLM-Seg: 16)
  --rms-eps E                LLaMA's RMSNorm epsilon (1e-6 LLaMA-1, 1e-5 LLaMA-2)
  --llama-heads N            LLaMA's attention heads (default hidden/128)
  -h, --help                 this help`,
  run,
};
