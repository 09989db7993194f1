export { HrsegError, type HrsegErrorCode } from './errors.js';
export { tensor, elementCount, DTYPES, type DType, type Tensor, type DataTypeMap } from './tensor.js';
export { runtimeInfo, setCpuThreads, type RuntimeInfo, type CudaDevice } from './runtime.js';
