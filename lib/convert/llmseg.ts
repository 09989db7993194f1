/**
 * The language side and head of LLM-Seg's DeepSpeed checkpoint (CHECKPOINTS.md; LS model/LISA.py)
 * → vlm/vision.onnx (CLIP tower, hidden_states[-2], + the linear projector), vlm/decoder.onnx
 * (LLaMA with LoRA merged), vlm/embed_tokens.safetensors (the table in its stored type),
 * vlm/tokenizer.json (+ config) with LISA's added tokens, head.safetensors. Each tensor is read
 * from the mapped file when it is written, one at a time: the 31.5 GB file never has to fit in RAM.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { HrsegError } from '../errors.js';
import type { Precision } from '../onnx/typed.js';
import type { HeadConfigInput } from '../head.js';
import { encodeSafetensors } from '../safetensors.js';
import { VlmTokenizer } from '../vlm/tokenizer.js';
import { buildClipVision } from './clip.js';
import type { ConvertOptions, ConvertedComponent, WriteGraph } from './types.js';
import { headNames, headSafetensors } from './head.js';
import { QUANTIZED_LAYERS, buildLlama } from './llama.js';
import { mergeLora } from './lora.js';
import { openSource } from './random.js';
import { prepareTokenizer } from './tokenizer.js';

/**
 * The Hugging Face config.json beside a checkpoint (in its folder, or the folder itself), when
 * there is one: the head counts and RMSNorm epsilon the weights' shapes cannot tell.
 */
function configBeside(path: string): Record<string, unknown> | undefined {
  if (path.startsWith('random:')) return undefined;
  const dir = existsSync(path) && statSync(path).isDirectory() ? path : dirname(path);
  try {
    return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const positive = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);

export async function convertLlmSegVlm(
  options: ConvertOptions,
  dir: string,
  write: WriteGraph,
  say: (e: { step: string }) => void,
  check: () => void,
): Promise<{ clipSize: number; hidden: number; head?: HeadConfigInput; extra: Record<string, ConvertedComponent> }> {
  const file = (options.llmseg ?? options.vlm)!;
  const raw = openSource(file);
  const { checkpoint: ck, lora } = mergeLora(raw, options.loraAlpha ?? 16);
  const clipCk = options.clip ? openSource(options.clip) : undefined;
  const extra: Record<string, ConvertedComponent> = {};
  const precisionOf = (dtype: string): Precision => (dtype === 'BF16' ? 'bf16' : dtype === 'F16' ? 'fp16' : 'fp32');
  const record = (key: string, rel: string, bytes: number, arch: Record<string, unknown>, source = file, precision?: Precision) =>
    (extra[key] = { file: rel, source, arch, ...(precision ? { precision } : {}), bytes, external: false });
  try {
    await mkdir(join(dir, 'vlm'), { recursive: true });
    say({ step: `building the CLIP tower and projector from ${options.clip ?? file}` });
    // Head counts from the config.json beside the files when there is one (the options win).
    const clipConfig = options.clip ? configBeside(options.clip) : undefined;
    const clipHeads = positive((clipConfig?.vision_config as Record<string, unknown> | undefined)?.num_attention_heads ?? clipConfig?.num_attention_heads);
    const clip = buildClipVision(clipCk ?? ck, { projector: ck, ...(clipHeads ? { heads: clipHeads } : {}) });
    const { prefix: _cp, ...clipArch } = clip.arch;
    await write('vlmVision', 'vlm/vision.onnx', clip.graph, options.clip ?? file, { ...clipArch, tokens: clip.tokens });
    check();
    say({ step: `building the LLaMA decoder (LoRA: ${lora.pairs} pairs, r ${lora.rank}, α ${lora.alpha} merged)` });
    const bits = options.quantize === 'int4' ? 4 : options.quantize === 'int8' ? 8 : undefined;
    const blockSize = bits === 8 ? ('channel' as const) : (options.quantizeBlock ?? 32);
    const llamaConfig = configBeside(file);
    const llama = buildLlama(ck, {
      eps: options.rmsEps ?? positive(llamaConfig?.rms_norm_eps),
      heads: options.llamaHeads ?? positive(llamaConfig?.num_attention_heads),
      ...(bits ? { quantize: { bits, blockSize } } : {}),
    });
    const { prefix: lp, ...llamaArch } = llama.arch;
    const quantization = options.quantize ? { type: options.quantize, blockSize, scheme: 'symmetric' as const, layers: [...QUANTIZED_LAYERS] } : undefined;
    await write('vlmDecoder', 'vlm/decoder.onnx', llama.graph, file, { ...llamaArch, lora }, quantization);
    check();
    // The embedding table in its stored type (the runner widens rows on demand).
    const emb = ck.get(`${lp}embed_tokens.weight`);
    const stored =
      emb.dtype === 'F16' || emb.dtype === 'BF16'
        ? { dtype: emb.dtype, shape: [...emb.shape], data: new Uint16Array(emb.bytes().slice().buffer) }
        : { dtype: 'F32' as const, shape: [...emb.shape], data: emb.float32().slice() };
    const embBytes = encodeSafetensors({ embed_tokens: stored }, { producer: 'hrseg convert', source: file });
    writeFileSync(join(dir, 'vlm/embed_tokens.safetensors'), embBytes);
    record('vlmEmbeddings', 'vlm/embed_tokens.safetensors', embBytes.length, { rows: emb.shape[0], dim: emb.shape[1] }, file, precisionOf(emb.dtype));
    say({ step: "writing the tokenizer with LISA's added tokens" });
    const tok = prepareTokenizer(options.tokenizer!, emb.shape[0]);
    const tokBytes = Buffer.from(JSON.stringify(tok.json));
    writeFileSync(join(dir, 'vlm/tokenizer.json'), tokBytes);
    writeFileSync(join(dir, 'vlm/tokenizer_config.json'), JSON.stringify(tok.config, null, 1));
    record('tokenizer', 'vlm/tokenizer.json', tokBytes.length, { added: tok.added }, options.tokenizer!);
    const t = await VlmTokenizer.load(join(dir, 'vlm/tokenizer.json'), join(dir, 'vlm/tokenizer_config.json'));
    for (const special of ['[SEG]', '<im_start>', '<im_end>', '<image>']) t.singleToken(special);
    // The head, when the file holds LLM-Seg's (LISA's own mask head is SAM's decoder: not ours).
    if (!ck.keys().some((k) => /(^|\.)lisa_attention_layers\.0\./.test(k) || /(^|\.)fusion\.layers\.0\./.test(k))) {
      if (options.lisa) {
        // LISA's head is text_hidden_fcs alone (H → H → 256, SPEC 11.1 step 5).
        say({ step: 'writing head.safetensors (text_hidden_fcs)' });
        const headBytes = headSafetensors(ck, file);
        writeFileSync(join(dir, 'head.safetensors'), headBytes);
        const h = headNames(ck),
          fc2 = h.get('text_hidden_fcs.0.2.weight');
        if (!fc2) throw new HrsegError('MODEL_FILE', `${file}: text_hidden_fcs.0.2 is missing: not a LISA checkpoint`);
        record('head', 'head.safetensors', headBytes.length, { hiddenSize: fc2.shape[1], out: fc2.shape[0], tensors: h.size }, file, precisionOf(fc2.dtype));
      }
      if (options.llmseg) throw new HrsegError('MODEL_FILE', `${file}: no mask-selection head (lisa_attention_layers): not an LLM-Seg checkpoint`);
      return { clipSize: clip.arch.imageSize, hidden: llama.arch.hidden, extra };
    }
    say({ step: 'writing head.safetensors (the mask-selection head)' });
    const headBytes = headSafetensors(ck, file);
    writeFileSync(join(dir, 'head.safetensors'), headBytes);
    const h = headNames(ck);
    const shape = (n: string) => {
      const x = h.get(n);
      if (!x) throw new HrsegError('MODEL_FILE', `${file}: the head has no '${n}'`);
      return x.shape;
    };
    let blocks = 0;
    while (h.has(`fusion.layers.${blocks}.norm1.weight`)) blocks++;
    const head: HeadConfigInput = {
      dim: shape('hrp.input_proj.weight')[0],
      featureDim: shape('hrp.input_proj.weight')[1],
      hiddenSize: shape('text_hidden_fcs.0.0.weight')[1],
      fusionBlocks: blocks,
      fusionMlpDim: shape('fusion.layers.0.mlp.lin1.weight')[0],
      iopHidden: shape('iop_head.layers.0.weight')[0],
      embedHidden: shape('embed_head.layers.0.weight')[0],
    };
    record('head', 'head.safetensors', headBytes.length, { ...head, tensors: h.size }, file, precisionOf(h.get('text_hidden_fcs.0.0.weight')!.dtype));
    return { clipSize: clip.arch.imageSize, hidden: llama.arch.hidden, head, extra };
  } finally {
    clipCk?.close();
    ck.close();
  }
}
