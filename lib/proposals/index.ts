export { DEFAULT_MASK_GENERATOR_CONFIG, resolveMaskGeneratorConfig, type MaskGeneratorConfig } from './config.js';
export { pointGrid, toFrame } from './point-grid.js';
export { MaskPostProcessor, generateProposals, type MaskGeometry, type ProposalOptions, type Proposals } from './mask-generator.js';
