/**
 * The head (SPEC.md sections 4-8) from a checkpoint → head.safetensors in the package's names
 * (README, "head.safetensors tensor names"). LLM-Seg's tensors (LS model/LISA.py:38-121) map one
 * to one: lisa_dino_conv is the input projection, lisa_attention_layers are the fusion blocks (the
 * same TwoWayAttentionBlock names), lisa_final_attn / lisa_norm_final_attn the final attention,
 * lisa_iou_head.{0,2} and lisa_embedding_head.{0,2} the two heads, text_hidden_fcs as is. An
 * HRSeg checkpoint's hrp.* / hre.* tensors (or tensors already in our names) pass through.
 * Tensors keep their stored type (F32, F16, BF16): the head keeps 16-bit weights 16-bit.
 */
import { HrsegError } from '../errors.js';
import type { Checkpoint, CheckpointTensor } from '../checkpoint/index.js';
import { encodeSafetensors, type StoredTensor } from '../safetensors.js';

const RULES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^lisa_dino_conv\.(weight|bias)$/, (m) => `hrp.input_proj.${m[1]}`],
  [/^lisa_attention_layers\.(\d+)\.(.+)$/, (m) => `fusion.layers.${m[1]}.${m[2]}`],
  [/^lisa_final_attn\.(.+)$/, (m) => `fusion.final_attn_token_to_image.${m[1]}`],
  [/^lisa_norm_final_attn\.(.+)$/, (m) => `fusion.norm_final_attn.${m[1]}`],
  [/^lisa_iou_head\.0\.(.+)$/, (m) => `iop_head.layers.0.${m[1]}`],
  [/^lisa_iou_head\.2\.(.+)$/, (m) => `iop_head.layers.1.${m[1]}`],
  [/^lisa_embedding_head\.0\.(.+)$/, (m) => `embed_head.layers.0.${m[1]}`],
  [/^lisa_embedding_head\.2\.(.+)$/, (m) => `embed_head.layers.1.${m[1]}`],
  [/^text_hidden_fcs\.0\.([02])\.(.+)$/, (m) => `text_hidden_fcs.0.${m[1]}.${m[2]}`],
  [/^((?:hrp|hre|fusion|iop_head|embed_head)\..+)$/, (m) => m[1]],
];

/** Our head name for each head tensor of the checkpoint (any prefix before the module names). */
export function headNames(ck: Checkpoint): Map<string, CheckpointTensor> {
  const out = new Map<string, CheckpointTensor>();
  for (const key of ck.keys()) {
    const at = key.search(/(?:^|\.)(?:lisa_|text_hidden_fcs\.|hrp\.|hre\.|fusion\.|iop_head\.|embed_head\.)/);
    if (at < 0) continue;
    const local = key.slice(key[at] === '.' ? at + 1 : at);
    for (const [re, to] of RULES) {
      const m = re.exec(local);
      if (!m) continue;
      const name = to(m);
      if (out.has(name)) throw new HrsegError('MODEL_FILE', `${ck.path}: two tensors map to the head's '${name}'`);
      out.set(name, ck.get(key));
      break;
    }
  }
  if (!out.has('text_hidden_fcs.0.0.weight'))
    throw new HrsegError('MODEL_FILE', `${ck.path}: no text_hidden_fcs: no LISA/LLM-Seg/HRSeg head in this checkpoint`);
  return out;
}

/** head.safetensors bytes, each tensor in its stored type (F64 and others widened to F32). */
export function headSafetensors(ck: Checkpoint, source: string): Buffer {
  const stored: Record<string, StoredTensor> = {};
  for (const [name, t] of headNames(ck)) {
    if (t.dtype === 'F16' || t.dtype === 'BF16') {
      const b = t.bytes().slice();
      stored[name] = { dtype: t.dtype, shape: [...t.shape], data: new Uint16Array(b.buffer, 0, t.numel) };
    } else stored[name] = { dtype: 'F32', shape: [...t.shape], data: t.float32().slice() };
  }
  return encodeSafetensors(stored, { producer: 'hrseg convert', source });
}
