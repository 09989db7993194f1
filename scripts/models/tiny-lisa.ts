/**
 * The demo's LISA pieces (the lisa preset's sam/prompt-decoder.onnx and text_hidden_fcs), known by
 * construction like the rest of the demo, over the tiny SAM encoder and the tiny VLM:
 *
 * - text_hidden_fcs: h_seg's colour shares (the tiny VLM's dims 16..23) to t's dims 0..7, ×10.
 * - Prompt decoder: the colour named is the largest of t's dims 0..7 (none when all are ≤ 0); every
 *   cell of SAM's embedding whose colour (channels 0..2) is within 1 (squared, normalised) of that
 *   palette colour gets +A, the rest −A, upscaled with the tiny SAM's corner correction. So LISA's
 *   postprocess gives back exactly the region of the colour the instruction names.
 */
import { GraphBuilder } from '../../lib/onnx/graph.js';
import { encodeSafetensors, f32 } from '../../lib/safetensors.js';
import { SAM_VIEW } from '../../lib/views.js';
import { PALETTE } from './tiny-dino.js';
import { TINY_SAM, upscaleWithCorners } from './tiny-sam.js';
import { COLOURS, TINY_VLM } from './tiny-vlm.js';

export function tinyLisaPromptDecoder(): Uint8Array {
  const { grid, amplitude: A } = TINY_SAM;
  const C = COLOURS.length;
  const g = new GraphBuilder();
  const emb = g.input('image_embeddings', 'float', [1, 256, 64, 64]);
  const sparse = g.input('sparse_embeddings', 'float', ['B', 'n', 256]);
  const scalar = (name: string, v: number) => g.float(name, [], [v]);
  // The first prompt token's colour dims: [B, C].
  const t = g.op('Reshape', [
    g.op('Slice', [sparse, g.int64('lisa_s0', [0, 0]), g.int64('lisa_s1', [1, C]), g.int64('lisa_ax12', [1, 2])]),
    g.int64('lisa_shape_bc', [-1, C]),
  ]);
  const which = g.op('ArgMax', [t], { axis: 1, keepdims: 0 });
  const named = g.op('Cast', [g.op('Greater', [g.op('ReduceMax', [t], { axes: [1], keepdims: 1 }), scalar('lisa_zero', 0)])], { to: 1 }); // [B, 1]
  const palette = new Float32Array(C * 3);
  for (let c = 0; c < C; c++) for (let ch = 0; ch < 3; ch++) palette[c * 3 + ch] = (PALETTE[c][ch] - SAM_VIEW.mean[ch]) / SAM_VIEW.std[ch];
  const target = g.op('Unsqueeze', [g.op('Gather', [g.float('lisa_palette', [C, 3], palette), which], { axis: 0 }), g.int64('lisa_ax2', [2])]); // [B, 3, 1]
  const rgb = g.op('Reshape', [
    g.op('Slice', [emb, g.int64('lisa_c0', [0]), g.int64('lisa_c3', [3]), g.int64('lisa_ax1', [1])]),
    g.int64('lisa_shape_13n', [1, 3, grid * grid]),
  ]);
  const diff = g.op('Sub', [rgb, target]);
  const dist = g.op('ReduceSum', [g.op('Mul', [diff, diff]), g.int64('lisa_ax1b', [1])], { keepdims: 0 }); // [B, 4096]
  const inside = g.op('Mul', [g.op('Cast', [g.op('Less', [dist, scalar('lisa_radius', 1)])], { to: 1 }), named]);
  const logits64 = g.op('Sub', [g.op('Mul', [inside, scalar('lisa_two_amp', 2 * A)]), scalar('lisa_amp', A)]);
  const square = g.op('Reshape', [logits64, g.int64('lisa_shape_bx1', [-1, 1, grid, grid])]);
  g.op('Identity', [upscaleWithCorners(g, square)], {}, ['low_res_masks']);
  g.op('Add', [g.op('Mul', [named, scalar('lisa_zero_iou', 0)]), scalar('lisa_iou', 0.9)], {}, ['iou_predictions']);
  g.output('low_res_masks', 'float', ['B', 1, 256, 256]);
  g.output('iou_predictions', 'float', ['B', 1]);
  return g.encode();
}

/** text_hidden_fcs for the tiny VLM: H → H (the colour shares kept) → 256 (×10 into dims 0..7). */
export function tinyLisaTextFcs(): Buffer {
  const H = TINY_VLM.hidden, O = 256, C = COLOURS.length;
  const w1 = new Float32Array(H * H), w2 = new Float32Array(O * H);
  for (let c = 0; c < C; c++) {
    w1[c * H + TINY_VLM.colourMean + c] = 1;
    w2[c * H + c] = 10;
  }
  return encodeSafetensors(
    {
      'text_hidden_fcs.0.0.weight': f32([H, H], w1),
      'text_hidden_fcs.0.0.bias': f32([H], new Float32Array(H)),
      'text_hidden_fcs.0.2.weight': f32([O, H], w2),
      'text_hidden_fcs.0.2.bias': f32([O], new Float32Array(O)),
    },
    { producer: 'hrseg scripts/models/tiny-lisa.ts (built for testing, not trained)' },
  );
}
