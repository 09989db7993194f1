/** `hrseg info`: what this installation runs here, and what a package holds. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { readPackage } from '../package/manifest.js';
import { usesProposals } from '../package/presets.js';
import { runtimeInfo } from '../runtime.js';
import { readSidecar } from '../trt/sidecar.js';
import { engineProviders } from '../engines/registry.js';
import type { ModelPackage } from '../package/manifest.js';
import type { Command } from './args.js';

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, json: { type: 'boolean' } } });
  const rt = runtimeInfo();
  const pkg = values.model ? await readPackage(values.model) : undefined;
  const devices = await providerStates(pkg);
  if (values.json) {
    const model = pkg && { dir: pkg.dir, name: pkg.name, trained: pkg.trained, preset: pkg.preset, manifest: pkg.manifest, settings: pkg.settings };
    console.log(JSON.stringify({ runtime: rt, devices, model }, null, 2));
    return;
  }
  console.log(`hrseg ${rt.version} (Node-API ${rt.napiVersion}, node ${process.versions.node})`);
  console.log(`binary: ${rt.binary}`);
  console.log(`  flavour: ${rt.flavour.name === 'override' ? rt.flavour.reason : `CUDA ${rt.flavour.name.slice(4)}: ${rt.flavour.reason}`}`);
  console.log(`platform: ${rt.platform.name}${rt.platform.board ? ` (${rt.platform.board})` : ''}`);
  if (rt.platform.note) console.log(`  ${rt.platform.note}`);
  console.log(`cpu: ${rt.cpuThreads} threads, kernel ${rt.cpuKernel ?? '?'}, instruction sets: ${rt.cpuFeatures || 'none beyond the baseline'}`);
  console.log(`cuda: ${rt.cuda.available ? rt.cuda.devices.map((d) => d.name).join(', ') : `not available (${rt.cuda.reason})`}`);
  console.log(`tensorrt: ${rt.tensorrt.loadable ? `${rt.tensorrt.version} (${rt.tensorrt.library})` : `not available (${rt.tensorrt.reason})`}`);
  if (rt.tensorrt.loadable) console.log(`  layer: ${rt.tensorrt.selection}`);
  for (const d of devices) {
    const state = d.unavailable ? `not available (${d.unavailable})` : d.missing ? `the package needs: ${d.missing}` : 'available';
    console.log(`device ${d.name}: ${state}`);
  }
  if (pkg) {
    console.log(`model: ${pkg.name} (${pkg.dir})${pkg.trained ? '' : ' — built for testing, not trained'}`);
    if (pkg.manifest.description) console.log(`  ${pkg.manifest.description}`);
    console.log(`  preset: ${pkg.preset}`);
    const h = pkg.head;
    if (usesProposals(pkg.preset)) {
      console.log(`  proposals: ${pkg.proposals.pointsPerSide}² prompts, K ${pkg.proposals.maxProposals}`);
      const dino = h.hrp ? `global ${pkg.views.dino.size} + ${h.magnification ** 2} local crops` : `one view at ${pkg.views.dino.size}`;
      console.log(
        `  head: C ${h.featureDim}, d ${h.dim}, n_g ${h.globalGrid}, DINOv2 ${dino}, HRP ${h.hrp ? 'on' : 'off'}, HRE L ${h.hreLayers}, H ${h.hiddenSize}`,
      );
      console.log(`  selection: ${h.selection.strategy}, k ${h.selection.k}, τ ${h.selection.tau}, fallback ${h.selection.fallback}`);
    } else {
      console.log(
        `  masks: LISA's SAM decoder prompted by each [SEG] (text_hidden_fcs H ${h.hiddenSize} → 256), SAM view ${pkg.views.sam.size}; no proposals, no DINOv2`,
      );
    }
    console.log(`  vlm: ${pkg.vlm.mode}, ${pkg.vlm.queryForm} prompts, up to ${pkg.vlm.maxNewTokens} tokens; eval ${pkg.vlm.evalMode}`);
    for (const [key, c] of Object.entries(pkg.manifest.components ?? {})) {
      const q = c.quantization as { type?: string; blockSize?: number | 'channel'; activations?: string } | undefined;
      console.log(
        `  component ${key}: ${String(c.file)} from ${String(c.source)} (${c.precision ? `${String(c.precision)}, ` : ''}${q ? `${String(q.type)} weights, ${q.blockSize === 'channel' ? 'per channel' : `block ${String(q.blockSize)}`}, ${q.activations ? `${q.activations} activations (CPU only), ` : ''}` : ''}${(Number(c.bytes) / 2 ** 20).toFixed(1)} MiB)`,
      );
    }
    // Engine folders built for this package, each with what it was built for.
    const engineDirs = await readdir(join(pkg.dir, 'engines')).catch(() => [] as string[]);
    for (const d of engineDirs) {
      const sidecar = await readSidecar(join(pkg.dir, 'engines', d), '').catch((e: Error) => e);
      if (sidecar === undefined) continue;
      console.log(
        sidecar instanceof Error
          ? `  engines ${d}: unreadable sidecar`
          : `  engines ${d}: ${Object.keys(sidecar.engines).join(', ')} (${sidecar.gpu.name}, TensorRT ${sidecar.tensorrt}, ${sidecar.precision}, ${sidecar.builtAt})`,
      );
    }
    console.log('  resolved settings (value, and where it came from):');
    const rows = Object.entries(pkg.settings);
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [key, { value, source }] of rows) {
      let text = JSON.stringify(value);
      if (text.length > 60) text = `${text.slice(0, 57)}...`;
      console.log(`    ${key.padEnd(width)}  ${text.padEnd(24)}  ${source}`);
    }
  }
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'says what runs on this machine and what a model package holds',
  help: `usage: hrseg info [--model <dir>] [--json]

Prints the binary, the CPU kernel, CUDA and TensorRT as found here, each engine provider (device)
and whether it can run; with --model, the package's preset, components, engine folders, what each
provider still needs for it, and every resolved setting with where it came from.

  --model <dir>   a model package to describe
  --json          print everything as JSON
  -h, --help      this help`,
  run,
};

/** Each engine provider (a `--device`): why it cannot run here, and with a package what it still lacks. */
async function providerStates(pkg: ModelPackage | undefined) {
  return Promise.all(
    engineProviders().map(async (p) => {
      const unavailable = p.unavailable() ?? null;
      const missing = pkg && !unavailable ? ((await p.missing(pkg)) ?? null) : null;
      return { name: p.name, summary: p.summary, unavailable, missing };
    }),
  );
}
