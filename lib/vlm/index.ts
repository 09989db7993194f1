export { LLAVA_V1_TEMPLATE, renderPrompt, type ConversationTemplate, type QueryForm } from './template.js';
export { VlmTokenizer } from './tokenizer.js';
export { EmbeddingTable } from './embeddings.js';
export { segStatePositions } from './seg.js';
export { VlmRunner, DEFAULT_VLM_CONFIG, type VlmAnswer, type VlmConfig, type VlmContext, type VlmFiles, type GenerateOptions } from './runner.js';
