/**
 * Filling labelme polygons into a mask the way ReasonSeg's loader does with cv2.fillPoly: vertices
 * truncated to integers, pixels whose integer position lies inside (even-odd) or on the outline
 * are set. (cv2's rasteriser differs from this by at most the outline's pixel choice on steep
 * fractional edges; the outline itself is drawn with Bresenham's line, as cv2 does.)
 */
export function fillPolygon(mask: Uint8Array, width: number, height: number, points: readonly (readonly [number, number])[], value: number): void {
  const pts = points.map(([x, y]) => [Math.trunc(x), Math.trunc(y)] as const);
  const n = pts.length;
  if (n === 0) return;
  const set = (x: number, y: number) => {
    if (x >= 0 && x < width && y >= 0 && y < height) mask[y * width + x] = value;
  };
  const ys = pts.map((p) => p[1]);
  const y0 = Math.max(0, Math.min(...ys)),
    y1 = Math.min(height - 1, Math.max(...ys));
  for (let y = y0; y <= y1; y++) {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const [ax, ay] = pts[i],
        [bx, by] = pts[(i + 1) % n];
      if (ay === by) continue;
      // Half-open in y so a vertex shared by two edges is counted once.
      if ((y >= ay && y < by) || (y >= by && y < ay)) xs.push(ax + ((y - ay) * (bx - ax)) / (by - ay));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2)
      for (let x = Math.max(0, Math.ceil(xs[k])); x <= Math.min(width - 1, Math.floor(xs[k + 1])); x++) mask[y * width + x] = value;
  }
  for (let i = 0; i < n; i++) {
    let [x, y] = pts[i];
    const [bx, by] = pts[(i + 1) % n];
    const dx = Math.abs(bx - x),
      dy = -Math.abs(by - y),
      sx = x < bx ? 1 : -1,
      sy = y < by ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      set(x, y);
      if (x === bx && y === by) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }
}

/** Shoelace area (for "largest area first"). */
export function polygonArea(points: readonly (readonly [number, number])[]): number {
  let a = 0;
  for (let i = 0; i < points.length; i++) {
    const [x0, y0] = points[i],
      [x1, y1] = points[(i + 1) % points.length];
    a += x0 * y1 - x1 * y0;
  }
  return Math.abs(a) / 2;
}
