/**
 * Writes the demo model package (scripts/models/demo-package.ts), its llm-seg twin (the same
 * pieces under the llm-seg preset) and its lisa twin (LISA's decoder in place of proposals and
 * head), and with --examples the example images.
 *   npm run demo:model [-- <dir>]      (default: models/demo, and models/demo-llm-seg, models/demo-lisa beside it)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { DEMO_LISA_MANIFEST, DEMO_LLMSEG_MANIFEST, DEMO_RECTS, writeDemoPackage } from './models/demo-package.js';
import { rectangleScene } from './models/tiny-sam.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = resolve(args[0] ?? join(root, 'models/demo'));
writeDemoPackage(dir);
console.log(`demo model package written to ${dir} (built for testing, not trained)`);
writeDemoPackage(`${dir}-llm-seg`, DEMO_LLMSEG_MANIFEST);
console.log(`its llm-seg twin (preset llm-seg) written to ${dir}-llm-seg`);
writeDemoPackage(`${dir}-lisa`, DEMO_LISA_MANIFEST);
console.log(`its lisa twin (preset lisa) written to ${dir}-lisa`);

if (process.argv.includes('--examples')) {
  const scene = rectangleScene(640, 480, DEMO_RECTS);
  mkdirSync(join(root, 'examples'), { recursive: true });
  writeFileSync(
    join(root, 'examples/shapes.png'),
    await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
      .png()
      .toBuffer(),
  );
  // A portrait one, as JPEG: SAM's frame scale is 1024/560, so edges sit on 35-pixel steps.
  const tall = rectangleScene(400, 560, [
    { name: 'magenta', colour: [210, 40, 200], x: 35, y: 70, w: 210, h: 175 },
    { name: 'cyan', colour: [20, 210, 220], x: 140, y: 315, w: 210, h: 210 },
  ]);
  writeFileSync(
    join(root, 'examples/tall.jpg'),
    await sharp(tall.rgb, { raw: { width: 400, height: 560, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer(),
  );
  console.log('examples/shapes.png and examples/tall.jpg written');
}
