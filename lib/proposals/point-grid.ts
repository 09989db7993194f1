/**
 * SAM's prompt grid (build_point_grid): n × n cell centres, (i + 0.5) / n along each axis, x
 * varying fastest, scaled to the image in original pixels.
 */
export function pointGrid(pointsPerSide: number, width: number, height: number): Float32Array {
  const n = pointsPerSide;
  const out = new Float32Array(n * n * 2);
  const offset = 1 / (2 * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      // numpy's linspace(offset, 1 − offset, n), then × (width, height)
      const fx = n === 1 ? offset : offset + (j * (1 - 2 * offset)) / (n - 1);
      const fy = n === 1 ? offset : offset + (i * (1 - 2 * offset)) / (n - 1);
      out[(i * n + j) * 2] = fx * width;
      out[(i * n + j) * 2 + 1] = fy * height;
    }
  return out;
}

/** Original pixels → SAM's resized frame: × (content / original) per axis (ResizeLongestSide.apply_coords). */
export function toFrame(points: Float32Array, width: number, height: number, contentWidth: number, contentHeight: number): Float32Array {
  const out = new Float32Array(points.length);
  for (let i = 0; i < points.length; i += 2) {
    out[i] = points[i] * (contentWidth / width);
    out[i + 1] = points[i + 1] * (contentHeight / height);
  }
  return out;
}
