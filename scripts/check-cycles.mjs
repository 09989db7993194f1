#!/usr/bin/env node
// Import cycles in lib/, type-only imports included (`npm run lint` runs it after ESLint, whose
// import-x/no-cycle sees only the imports that exist at run time). Prints each cycle and exits 1.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..', process.argv[2] ?? 'lib');
const files = readdirSync(root, { recursive: true })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, f));
const known = new Set(files);
const IMPORT = /^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms;
const edges = new Map(
  files.map((f) => {
    const out = [];
    for (const [, spec] of readFileSync(f, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
      if (known.has(target)) out.push(target);
    }
    return [f, out];
  }),
);

// Tarjan's strongly connected components: every component of more than one file is a cycle.
let index = 0;
const stack = [],
  on = new Set(),
  idx = new Map(),
  low = new Map(),
  cycles = [];
function visit(v) {
  (idx.set(v, index), low.set(v, index++), stack.push(v), on.add(v));
  for (const w of edges.get(v)) {
    if (!idx.has(w)) (visit(w), low.set(v, Math.min(low.get(v), low.get(w))));
    else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) !== idx.get(v)) return;
  const component = [];
  for (let w; w !== v;) ((w = stack.pop()), on.delete(w), component.push(w));
  if (component.length > 1 || edges.get(v).includes(v)) cycles.push(component);
}
for (const f of files) if (!idx.has(f)) visit(f);
for (const c of cycles) console.error(`import cycle: ${c.map((f) => relative(process.cwd(), f)).join(' <-> ')}`);
if (cycles.length) process.exit(1);
console.log(`check-cycles: ${files.length} files, no import cycles`);
