/**
 * The model package (DESIGN.md): a directory with hrseg.json naming every file and config value.
 * `readPackage` validates the manifest against its schema and version, resolves and checks every
 * file, and reports every problem it finds in one MODEL_FILE error, each naming the file and field.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';

import { Ajv } from 'ajv';

import { HrsegError } from '../errors.js';
import { DEFAULT_HEAD_CONFIG, resolveHeadConfig, type HeadConfig } from '../head.js';
import { DEFAULT_MASK_GENERATOR_CONFIG, resolveMaskGeneratorConfig, type MaskGeneratorConfig } from '../proposals/config.js';
import { CLIP_VIEW, DINO_VIEW, SAM_VIEW, type SquareViewSpec } from '../views.js';
import { DEFAULT_VLM_CONFIG, type VlmConfig } from '../vlm/runner.js';
import type { ConversationTemplate, QueryForm } from '../vlm/template.js';
import { PRESET_VALUES, resolveLayers, usesProposals, type Setting } from './presets.js';
import { DEFAULT_FILES, type ConfigSections, type Manifest, type PackageFiles, type PresetName } from './types.js';

export { DEFAULT_FILES, type Manifest, type PackageFiles } from './types.js';
import { MANIFEST_SCHEMA, MANIFEST_VERSION } from './schema.js';

export const MANIFEST_FILE = 'hrseg.json';

/**
 * The files a preset's runtime reads: every one but LISA's prompt decoder for hrseg and llm-seg;
 * for lisa, SAM's encoder and prompt decoder, the VLM and text_hidden_fcs (no proposals, no DINOv2).
 */
export function requiredFiles(preset: PresetName): (keyof PackageFiles)[] {
  const all = Object.keys(DEFAULT_FILES) as (keyof PackageFiles)[];
  return usesProposals(preset) ? all.filter((k) => k !== 'samPromptDecoder') : all.filter((k) => k !== 'samDecoder' && k !== 'dinoEncoder');
}

/** A package with every default filled in and every path absolute. */
export interface ModelPackage {
  dir: string;
  manifest: Manifest;
  name: string;
  trained: boolean;
  preset: PresetName;
  /** Every resolved value and where it came from, by dotted path (e.g. 'head.selection.tau'). */
  settings: Record<string, Setting>;
  files: PackageFiles;
  views: { sam: SquareViewSpec; dino: SquareViewSpec; clip: SquareViewSpec; dinoPatch: number };
  proposals: MaskGeneratorConfig;
  head: HeadConfig;
  vlm: VlmConfig & { queryForm: QueryForm; mode: 'generate' | 'teacher-forced'; evalMode: 'generate' | 'teacher-forced' };
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(MANIFEST_SCHEMA);

function fail(dir: string, problems: string[]): never {
  throw new HrsegError('MODEL_FILE', `model package ${dir} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`);
}

export async function readPackage(dirInput: string): Promise<ModelPackage> {
  if (typeof dirInput !== 'string' || dirInput === '') throw new HrsegError('INVALID_ARGUMENT', 'model: expected a package directory');
  const dir = resolve(dirInput);
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new HrsegError('MODEL_FILE', `model package not found: ${dir}`);
  if (!info.isDirectory()) throw new HrsegError('MODEL_FILE', `model package must be a directory with ${MANIFEST_FILE}: ${dir}`);
  const manifestPath = join(dir, MANIFEST_FILE);
  const text = await readFile(manifestPath, 'utf8').catch(() => undefined);
  if (text === undefined) throw new HrsegError('MODEL_FILE', `${manifestPath} not found (every model package has one)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new HrsegError('MODEL_FILE', `${manifestPath} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const problems: string[] = [];
  const version = (json as { version?: unknown })?.version;
  if (typeof version === 'number' && version > MANIFEST_VERSION)
    fail(dir, [`${MANIFEST_FILE}: version ${version} is newer than this hrseg reads (${MANIFEST_VERSION}); upgrade hrseg`]);
  if (!validate(json)) {
    for (const e of validate.errors ?? []) {
      const where = e.instancePath || '/';
      const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
      const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
      const constant = e.keyword === 'const' ? ` (${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)})` : '';
      problems.push(`${MANIFEST_FILE} ${where}: ${e.message}${extra}${allowed}${constant}`);
    }
    fail(dir, problems);
  }
  const m = json as Manifest;

  const preset = m.preset ?? 'hrseg';
  const required = new Set(requiredFiles(preset));
  const files = { ...DEFAULT_FILES, ...m.files } as PackageFiles;
  for (const [key, rel] of Object.entries(files) as [keyof PackageFiles, string][]) {
    const abs = resolve(dir, rel);
    const inside = relative(dir, abs);
    if (isAbsolute(rel) || inside.startsWith('..')) {
      problems.push(`${MANIFEST_FILE} /files/${key}: '${rel}' leaves the package directory`);
      continue;
    }
    files[key] = abs;
    // Files this preset's runtime does not read need not be there (LISA has no DINOv2).
    if (!required.has(key)) continue;
    const s = await stat(abs).catch(() => undefined);
    if (!s) problems.push(`${rel} (/files/${key}) is missing`);
    else if (!s.isFile()) problems.push(`${rel} (/files/${key}) is not a file`);
    else if (s.size === 0) problems.push(`${rel} (/files/${key}) is empty`);
  }

  // SPEC's defaults, then the preset, then what hrseg.json says itself.
  const { template: defaultTemplate, view: _clipView, ...vlmDefaults } = DEFAULT_VLM_CONFIG;
  const defaults: ConfigSections = {
    views: { sam: SAM_VIEW, dino: DINO_VIEW, clip: CLIP_VIEW, dinoPatch: 14 },
    proposals: DEFAULT_MASK_GENERATOR_CONFIG,
    head: DEFAULT_HEAD_CONFIG,
    vlm: { ...vlmDefaults, template: defaultTemplate, queryForm: 'sentence', mode: 'generate' },
  };
  const own: ConfigSections = { views: m.views, proposals: m.proposals, head: m.head, vlm: m.vlm };
  const resolved = resolveLayers([
    { source: 'default', values: defaults },
    { source: `preset ${preset}`, values: PRESET_VALUES[preset] },
    { source: 'hrseg.json', values: own },
  ]);
  const r = resolved.values as Required<ConfigSections>;
  const views = {
    sam: r.views.sam as SquareViewSpec,
    dino: r.views.dino as SquareViewSpec,
    clip: r.views.clip as SquareViewSpec,
    dinoPatch: r.views.dinoPatch!,
  };
  let head: HeadConfig | undefined;
  try {
    head = resolveHeadConfig(r.head);
  } catch (e) {
    problems.push(`${MANIFEST_FILE} /head: ${(e as Error).message}`);
  }
  if (head && usesProposals(preset) && views.dino.size % views.dinoPatch !== 0)
    problems.push(`${MANIFEST_FILE} /views/dino/size: ${views.dino.size} is not a multiple of the patch size ${views.dinoPatch}`);
  if (head && usesProposals(preset) && views.dino.size / views.dinoPatch !== head.globalGrid)
    problems.push(
      `${MANIFEST_FILE} /head/globalGrid: ${head.globalGrid}, but the DINOv2 view ${views.dino.size} / patch ${views.dinoPatch} gives ${views.dino.size / views.dinoPatch}`,
    );
  let proposals: MaskGeneratorConfig | undefined;
  try {
    proposals = resolveMaskGeneratorConfig(r.proposals);
  } catch (e) {
    problems.push(`${MANIFEST_FILE} /proposals: ${(e as Error).message}`);
  }
  if (problems.length > 0) fail(dir, problems);

  const { template, queryForm, mode, evalMode, ...vlmRest } = r.vlm;
  const vlm = {
    ...DEFAULT_VLM_CONFIG,
    ...vlmRest,
    view: views.clip,
    template: template as ConversationTemplate,
    queryForm: queryForm!,
    mode: mode!,
    evalMode: evalMode ?? mode!,
  };
  return {
    dir,
    manifest: m,
    name: m.name ?? dir,
    trained: m.trained ?? true,
    preset,
    settings: resolved.settings,
    files,
    views,
    proposals: proposals!,
    head: head!,
    vlm,
  };
}
