/** The outlines of chosen proposals, for the page's "proposal outlines" view. */

/**
 * Boundary pixels (inside a chosen proposal, with a 4-neighbour outside it or at the image edge)
 * of the chosen proposals of masks [K, h, w], nearest-resized to W × H. 1 on a boundary, else 0.
 */
export function outlineMask(masks: Uint8Array, chosen: readonly number[], w: number, h: number, W: number, H: number): Uint8Array {
  const edge = new Uint8Array(w * h);
  for (const k of chosen) {
    const m = masks.subarray(k * w * h, (k + 1) * w * h);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        if (!m[p]) continue;
        if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !m[p - 1] || !m[p + 1] || !m[p - w] || !m[p + w]) edge[p] = 1;
      }
  }
  if (w === W && h === H) return edge;
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.floor((y * h) / H));
    for (let x = 0; x < W; x++) out[y * W + x] = edge[sy * w + Math.min(w - 1, Math.floor((x * w) / W))];
  }
  return out;
}
