/**
 * A tiny SAM-shaped encoder/decoder pair (the sam/encoder.onnx and sam/decoder.onnx contracts of
 * DESIGN.md) whose proposals are known by construction: the mask for a point prompt is the set of
 * pixels with the same colour as the prompted pixel.
 *
 * Encoder: the normalised 1024² view averaged over 16 × 16 cells, its 3 channels copied into the
 * first 3 of 256 ([1, 256, 64, 64]). Decoder: for each prompt, the squared colour distance of every
 * cell to the prompted cell, d; logits ±A by min(d / δ, 1) at 64², repeated ×4 to 256². SAM's
 * bilinear upsampling would round the corners of such a step (the pixel just inside a convex corner
 * gets 39 % of the inside value and 61 % of the outside), so the 256² pixel at each corner of a
 * region's boundary is scaled by 1.68: inside [1.6, 1.75] (found by brute force over every pixel
 * of both sides of a corner) corner and edge pixels all land on the right side, and the masks are
 * the colour regions exactly, corners included. Its three
 * masks per prompt are (0) that mask, predicted IoU 0.95; (1) the same shape at amplitude 0.5, so
 * nothing exceeds the stability offset and its stability is 0, predicted IoU 0.97; (2) the same
 * mask with predicted IoU 0.5. With SAM's defaults only mask 0 survives, and NMS leaves one
 * proposal per colour region. Regions must follow 16-pixel cells of SAM's frame.
 */
import { GraphBuilder } from '../../lib/onnx/graph.js';

export const TINY_SAM = Object.freeze({ cell: 16, grid: 64, low: 256, amplitude: 8, corner: 1.68, delta: 4, iou: [0.95, 0.97, 0.5] });

export function tinySamEncoder(): Uint8Array {
  const g = new GraphBuilder();
  const image = g.input('image', 'float', [1, 3, 1024, 1024]);
  const pooled = g.op('AveragePool', [image], { kernel_shape: [16, 16], strides: [16, 16] });
  const w = new Float32Array(256 * 3);
  for (let c = 0; c < 3; c++) w[c * 3 + c] = 1;
  g.op('Conv', [pooled, g.float('copy_rgb', [256, 3, 1, 1], w)], {}, ['image_embeddings']);
  g.output('image_embeddings', 'float', [1, 256, 64, 64]);
  return g.encode();
}

export function tinySamDecoder(): Uint8Array {
  const { cell, grid, amplitude: A, corner, delta, iou } = TINY_SAM;
  const g = new GraphBuilder();
  const emb = g.input('image_embeddings', 'float', [1, 256, 64, 64]);
  const coords = g.input('point_coords', 'float', ['B', 1, 2]);
  const labels = g.input('point_labels', 'float', ['B', 1]);
  const scalar = (name: string, v: number) => g.float(name, [], [v]);

  const rgb = g.op('Slice', [emb, g.int64('c0', [0]), g.int64('c3', [3]), g.int64('ax1', [1])]);
  const table = g.op('Reshape', [rgb, g.int64('shape_3xN', [3, grid * grid])]);
  // The prompted cell: floor(coord / 16), clamped to the grid.
  let cellXY = g.op('Floor', [g.op('Div', [coords, scalar('cell', cell)])]);
  cellXY = g.op('Min', [g.op('Max', [cellXY, scalar('zero', 0)]), scalar('last', grid - 1)]);
  const cx = g.op('Slice', [cellXY, g.int64('s0', [0]), g.int64('s1', [1]), g.int64('ax2', [2])]);
  const cy = g.op('Slice', [cellXY, g.int64('t1', [1]), g.int64('t2', [2]), g.int64('ax2b', [2])]);
  const flat = g.op('Add', [g.op('Mul', [cy, scalar('grid', grid)]), cx]);
  const index = g.op('Cast', [g.op('Reshape', [flat, g.int64('shape_flat', [-1])])], { to: 7 });
  const colour = g.op('Unsqueeze', [g.op('Transpose', [g.op('Gather', [table, index], { axis: 1 })], { perm: [1, 0] }), g.int64('ax2c', [2])]);
  // Squared colour distance of every cell to the prompted one: [B, 4096].
  const diff = g.op('Sub', [g.op('Reshape', [rgb, g.int64('shape_1x3xN', [1, 3, grid * grid])]), colour]);
  const dist = g.op('ReduceSum', [g.op('Mul', [diff, diff]), g.int64('ax1b', [1])], { keepdims: 0 });
  const t = g.op('Min', [g.op('Div', [dist, scalar('delta', delta)]), scalar('one', 1)]);
  const logits64 = g.op('Sub', [scalar('amp', A), g.op('Mul', [t, scalar('two_amp', 2 * A)])]);
  const square = g.op('Reshape', [logits64, g.int64('shape_bx1', [-1, 1, grid, grid])]);
  const m0 = upscaleWithCorners(g, square);
  const m1 = g.op('Mul', [m0, scalar('weak', 0.5 / (corner * A))]);
  g.op('Concat', [m0, m1, m0], { axis: 1 }, ['low_res_masks']);
  g.op('Add', [g.op('Mul', [labels, scalar('zero_b', 0)]), g.float('ious', [1, 3], iou)], {}, ['iou_predictions']);
  g.output('low_res_masks', 'float', ['B', 3, 256, 256]);
  g.output('iou_predictions', 'float', ['B', 3]);
  return g.encode();
}

/**
 * Cell logits [B, 1, 64, 64] (±A steps) → [B, 1, 256, 256]: each cell repeated ×4, and the 256²
 * pixel at each corner of a region's boundary scaled by `corner`, so that SAM's (and LISA's)
 * bilinear postprocess gives back the cell regions exactly, corners included.
 */
export function upscaleWithCorners(g: GraphBuilder, square: string): string {
  const { grid, corner } = TINY_SAM;
  const scalar = (name: string, v: number) => g.float(name, [], [v]);
  const scales = g.float('scales', [4], [1, 1, 4, 4]);
  const up4 = (x: string) =>
    g.op('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  // Corners: a cell whose neighbour above (below) and left (right) both have the other sign has a
  // corner at its top-left (…) 256² pixel. Edges of the grid count as the same sign.
  const sign = g.op('Sign', [square]);
  const padded = g.op('Pad', [sign, g.int64('pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'edge' });
  const axes23 = g.int64('ax23', [2, 3]);
  const shifted = (name: string, r: number, c: number) =>
    g.op('Slice', [padded, g.int64(`${name}_s`, [r, c]), g.int64(`${name}_e`, [r + grid, c + grid]), axes23]);
  const half = scalar('half', 0.5);
  const differs = (x: string) => g.op('Mul', [g.op('Sub', [scalar(`one_${x}`, 1), g.op('Mul', [x, sign])]), half]);
  const dUp = differs(shifted('up', 0, 1)), dDown = differs(shifted('down', 2, 1));
  const dLeft = differs(shifted('left', 1, 0)), dRight = differs(shifted('right', 1, 2));
  let multiplier = scalar('unit', 1);
  for (const [name, a, b, r, c] of [
    ['tl', dUp, dLeft, 0, 0],
    ['tr', dUp, dRight, 0, 3],
    ['bl', dDown, dLeft, 3, 0],
    ['br', dDown, dRight, 3, 3],
  ] as const) {
    const pattern = new Float32Array(16);
    pattern[r * 4 + c] = corner - 1;
    const tiled = g.op('Tile', [g.float(`pattern_${name}`, [1, 1, 4, 4], pattern), g.int64(`reps_${name}`, [1, 1, grid, grid])]);
    multiplier = g.op('Add', [multiplier, g.op('Mul', [up4(g.op('Mul', [a, b])), tiled])]);
  }
  return g.op('Mul', [up4(square), multiplier]);
}

/** Axis-aligned coloured rectangles on a black background, as raw RGB, and each region's mask. */
export interface SyntheticScene {
  width: number;
  height: number;
  rgb: Uint8Array;
  regions: { name: string; colour: [number, number, number]; mask: Uint8Array; area: number }[];
}

export function rectangleScene(
  width: number,
  height: number,
  rects: { name: string; colour: [number, number, number]; x: number; y: number; w: number; h: number }[],
): SyntheticScene {
  const rgb = new Uint8Array(width * height * 3);
  const owner = new Int32Array(width * height).fill(-1);
  rects.forEach((r, i) => {
    for (let y = r.y; y < r.y + r.h; y++)
      for (let x = r.x; x < r.x + r.w; x++) {
        rgb.set(r.colour, (y * width + x) * 3);
        owner[y * width + x] = i;
      }
  });
  const regions = [{ name: 'background', colour: [0, 0, 0] as [number, number, number] }, ...rects].map((r, i) => {
    const mask = new Uint8Array(width * height);
    let area = 0;
    for (let p = 0; p < mask.length; p++)
      if (owner[p] === i - 1) {
        mask[p] = 1;
        area++;
      }
    return { name: r.name, colour: r.colour, mask, area };
  });
  return { width, height, rgb, regions };
}
