export { HrsegError, type HrsegErrorCode } from './errors.js';
export { tensor, elementCount, DTYPES, type DType, type Tensor, type DataTypeMap } from './tensor.js';
export { runtimeInfo, setCpuThreads, type RuntimeInfo, type CudaDevice } from './runtime.js';
export {
  Head,
  resolveHeadConfig,
  DEFAULT_HEAD_CONFIG,
  type HeadConfig,
  type HeadConfigInput,
  type HeadOptions,
  type ImageFeatures,
  type InstructionResult,
  type SegSelection,
  type SelectionConfig,
  type SelectionStrategy,
} from './head.js';
export { encodeSafetensors, type StoredTensor } from './safetensors.js';
export { loadImage, DEFAULT_MAX_PIXELS, type ImageInput, type ImageOptions, type RawImage, type RgbImage } from './image.js';
export {
  squareView,
  tiledView,
  centerCropView,
  SAM_VIEW,
  DINO_VIEW,
  CLIP_VIEW,
  type SquareViewSpec,
  type ViewNormalization,
  type ViewResult,
} from './views.js';
export * from './proposals/index.js';
export * from './engines/index.js';
export { encodeRle, decodeRle, type CocoRle } from './rle.js';
export * from './vlm/index.js';
export {
  createSegmenter,
  Segmenter,
  maskTensor,
  type Device,
  type PreparedImage,
  type SegmentEvent,
  type SegmentOptions,
  type SegmentPart,
  type SegmentResult,
  type SegmenterOptions,
  type StageTimings,
} from './segmenter.js';
export { readPackage, DEFAULT_FILES, MANIFEST_FILE, type Manifest, type ModelPackage } from './package/manifest.js';
export { MANIFEST_SCHEMA, MANIFEST_VERSION } from './package/schema.js';
export { dinoFeatures, type DinoFeatures } from './pipeline/dino.js';
export { type SelectionFallback, type MaskResize } from './head.js';
export { type PrepareOptions } from './segmenter.js';
export { PRESETS, PRESET_VALUES, type PresetName, type Setting, type ValueSource } from './package/presets.js';
export { evaluate, type EvaluateOptions } from './eval/evaluate.js';
export { convert, type ConvertOptions, type ConvertResult, type ConvertedComponent } from './convert/convert.js';
export { RANDOM_ARCHS, type RandomArch } from './convert/random.js';
export { openCheckpoint, CheckpointTensor, type Checkpoint, type CheckpointDType } from './checkpoint/index.js';
export { GraphBuilder, type ElemType } from './onnx/graph.js';
export { typedGraph, type Precision } from './onnx/typed.js';
export { buildEngines, type BuildEnginesOptions, type BuildEnginesResult, type BuildProgress } from './trt/build.js';
export { engineSpecs, type EngineSpec } from './trt/specs.js';
export { checkpointHeadWeights, headImageGraph, headInstructionGraph, type HeadWeights } from './trt/head-graph.js';
export { TrtEngine } from './engines/tensorrt.js';
export { engineProviders, registerProvider } from './engines/registry.js';
export type { EngineProvider, EngineSource, OpenOptions } from './engines/provider.js';
export { serve, type ServeOptions, type RunningServer } from './serve/server.js';
