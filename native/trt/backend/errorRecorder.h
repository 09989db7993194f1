// The IErrorRecorder attached to every builder, runtime and the global plugin registry. It keeps
// nothing itself: each error goes into the process logger's journal with its ErrorCode, so that
// an allocation failure inside TensorRT (kFAILED_ALLOCATION) is seen as such. (TensorRT brings its
// own CUDA runtime: cudaGetLastError() in ours never sees TensorRT's errors.)
#pragma once
#include <NvInferRuntime.h>

namespace hrseg::trt {

// One recorder for the process, never destroyed, so TensorRT's references never dangle.
nvinfer1::IErrorRecorder& process_error_recorder();

}  // namespace hrseg::trt
