export { CONTRACTS, checkContract, type Contract, type Component } from './contracts.js';
export { OnnxEngine, type OnnxEngineOptions } from './onnx-runtime.js';
export { isEngineValue, type Dim, type Engine, type EngineInput, type EngineValue, type RunOptions, type TensorSpec } from './types.js';
