// TensorRT element types → the CUDA layer's own enum (native/cuda has no TensorRT types).
#pragma once
#include <NvInferRuntime.h>

#include <stdexcept>

#include "hrseg_cuda/cast.h"

namespace hrseg::trt::plugin {

inline cuda::ElementType element_type(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT:
      return cuda::ElementType::Float32;
    case nvinfer1::DataType::kHALF:
      return cuda::ElementType::Float16;
    case nvinfer1::DataType::kBF16:
      return cuda::ElementType::BFloat16;
    default:
      throw std::invalid_argument("unsupported element type " + std::to_string(static_cast<int>(t)));
  }
}

}  // namespace hrseg::trt::plugin
