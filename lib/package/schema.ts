/**
 * The JSON Schema of hrseg.json, format version 1. Every (config) value of SPEC.md is a field;
 * every field is optional except the format marker and version, and defaults to SPEC.md's value.
 */
const num = { type: 'number' } as const;
const int = (minimum: number, maximum?: number) => ({ type: 'integer', minimum, ...(maximum !== undefined ? { maximum } : {}) }) as const;
const triple = { type: 'array', items: num, minItems: 3, maxItems: 3 } as const;
const view = {
  type: 'object',
  additionalProperties: false,
  properties: {
    size: int(1, 16384),
    mean: triple,
    std: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 3, maxItems: 3 },
    roundTo8Bits: { type: 'boolean' },
  },
} as const;
const path = { type: 'string', minLength: 1 } as const;

export const MANIFEST_VERSION = 1;

export const MANIFEST_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'hrseg model package manifest (hrseg.json)',
  type: 'object',
  required: ['format', 'version'],
  additionalProperties: false,
  properties: {
    format: { const: 'hrseg-model' },
    version: { type: 'integer', minimum: 1 },
    name: { type: 'string' },
    description: { type: 'string' },
    /** False for built-for-testing packages such as the demo. */
    trained: { type: 'boolean' },
    /** SPEC.md section 11's presets; every value they fill can still be set below. */
    preset: { enum: ['hrseg', 'llm-seg', 'lisa'] },
    /** What each component was converted from (hrseg convert): source checkpoint, architecture, precision, size. */
    components: { type: 'object', additionalProperties: { type: 'object' } },
    files: {
      type: 'object',
      additionalProperties: false,
      properties: {
        samEncoder: path,
        samDecoder: path,
        samPromptDecoder: path,
        dinoEncoder: path,
        vlmVision: path,
        vlmDecoder: path,
        vlmEmbeddings: path,
        tokenizer: path,
        tokenizerConfig: path,
        head: path,
      },
    },
    views: {
      type: 'object',
      additionalProperties: false,
      properties: { sam: view, dino: view, clip: view, dinoPatch: int(1, 64) },
    },
    proposals: {
      type: 'object',
      additionalProperties: false,
      properties: {
        pointsPerSide: int(1, 256),
        pointsPerBatch: int(1, 65536),
        predIouThreshold: num,
        stabilityThreshold: { type: 'number', minimum: 0, maximum: 1 },
        stabilityOffset: { type: 'number', minimum: 0 },
        maskThreshold: num,
        boxNmsThreshold: { type: 'number', minimum: 0, maximum: 1 },
        maxProposals: int(0, 100000),
        cropLayers: { const: 0 },
        minRegionArea: { const: 0 },
      },
    },
    head: {
      type: 'object',
      additionalProperties: false,
      properties: {
        featureDim: int(1),
        dim: int(1),
        globalGrid: int(1),
        magnification: int(1, 8),
        hrp: { type: 'boolean' },
        gamma: { type: 'number', minimum: 0, maximum: 1 },
        poolSource: { enum: ['hybrid', 'region'] },
        poolSize: int(1, 4096),
        maskPooling: { enum: ['pulled-back', 'direct'] },
        maskResize: { enum: ['bilinear-antialias', 'area'] },
        hreLayers: int(0),
        hreHeads: int(1),
        hiddenSize: int(1),
        fusionBlocks: int(0),
        fusionHeads: int(1),
        fusionMlpDim: int(1),
        iopHidden: int(1),
        embedHidden: int(1),
        selection: {
          type: 'object',
          additionalProperties: false,
          properties: {
            strategy: { enum: ['top1-sim', 'top1-iop', 'iop-threshold', 'topk-sim', 'topk-sim-iop'] },
            k: int(1),
            tau: { type: 'number', minimum: 0, maximum: 1 },
            fallback: { enum: ['top1-sim', 'none'] },
          },
        },
      },
    },
    vlm: {
      type: 'object',
      additionalProperties: false,
      properties: {
        queryForm: { enum: ['sentence', 'phrase', 'chat'] },
        mode: { enum: ['generate', 'teacher-forced'] },
        /** The mode `hrseg eval` / evaluate() use when not told (default: mode). */
        evalMode: { enum: ['generate', 'teacher-forced'] },
        bosToken: { type: 'string' },
        eosToken: { type: 'string' },
        segToken: { type: 'string' },
        maxNewTokens: int(1, 4096),
        kvHeads: int(1),
        headDim: int(1),
        embeddingsTensor: { type: 'string' },
        template: {
          type: 'object',
          additionalProperties: false,
          properties: {
            system: { type: 'string' },
            roles: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
            sep: { type: 'string' },
            sep2: { type: 'string' },
            sentence: { type: 'string', pattern: '\\{query\\}' },
            phrase: { type: 'string', pattern: '\\{query\\}' },
            chat: { type: 'string', pattern: '\\{query\\}' },
            imageToken: { type: 'string', minLength: 1 },
            imStart: { type: 'string' },
            imEnd: { type: 'string' },
            useImStartEnd: { type: 'boolean' },
            evalAnswer: { type: 'string' },
          },
        },
      },
    },
  },
} as const;
