// libnvinfer and libnvonnxparser, opened at run time. Nothing here links against TensorRT: the
// factories are found by dlsym, so libhrseg_trt.so loads (and reports why not) on a machine
// without TensorRT, and never runs TensorRT's static plugin registration.
#pragma once
#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <string>

namespace hrseg::trt {

struct NvInferLibrary {
  std::string path;         // the libnvinfer file that was opened
  int32_t version = 0;      // getInferLibVersion(): major*10000 + minor*100 + patch
  void* (*create_builder)(void* logger, int32_t version) = nullptr;
  void* (*create_runtime)(void* logger, int32_t version) = nullptr;
  void* (*create_parser)(void* network, void* logger, int version) = nullptr;
};

// Opens both libraries once per process (later calls return the first result). Throws
// std::runtime_error naming what is missing and how to get it.
const NvInferLibrary& nvinfer_library(const char* tensorrt_root);
// nullptr until a load succeeded.
const NvInferLibrary* loaded_nvinfer_library() noexcept;

}  // namespace hrseg::trt
