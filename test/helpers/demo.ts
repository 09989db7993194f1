/** The demo package and scene for end-to-end tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEMO_LISA_MANIFEST, DEMO_LLMSEG_MANIFEST, DEMO_RECTS, writeDemoPackage } from '../../scripts/models/demo-package.js';
import { rectangleScene } from '../../scripts/models/tiny-sam.js';

export function demoPackage(variant: 'hrseg' | 'llm-seg' | 'lisa' = 'hrseg'): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'hrseg-demo-')), variant === 'hrseg' ? 'demo' : `demo-${variant}`);
  writeDemoPackage(dir, variant === 'hrseg' ? undefined : variant === 'lisa' ? DEMO_LISA_MANIFEST : DEMO_LLMSEG_MANIFEST);
  return dir;
}

export const demoScene = () => rectangleScene(640, 480, DEMO_RECTS);

export function maskIoU(a: Uint8Array, b: Uint8Array): number {
  let i = 0,
    u = 0;
  for (let p = 0; p < a.length; p++) {
    const x = a[p] !== 0,
      y = b[p] !== 0;
    if (x && y) i++;
    if (x || y) u++;
  }
  return u === 0 ? 1 : i / u;
}
