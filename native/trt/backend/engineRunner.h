// One deserialized engine with its execution context, stream and device buffers.
#pragma once
#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <vector>

#include "backendCommon.h"
#include "hrseg/mapped_file.h"

struct hrseg_trt_engine {
  int32_t device = 0;
  hrseg::trt::Owned<nvinfer1::IRuntime> runtime;
  hrseg::trt::Owned<nvinfer1::ICudaEngine> engine;
  hrseg::trt::Owned<nvinfer1::IExecutionContext> context;
  cudaStream_t stream = nullptr;
  int32_t profile = -1;
  std::vector<std::string> names;
  std::vector<hrseg_trt_tensor_info> io;
  // Device memory per I/O tensor, grown as needed and kept between runs.
  std::vector<void*> buffers;
  std::vector<size_t> capacity;
  ~hrseg_trt_engine();
};

namespace hrseg::trt {

// A plan file mapped read-only (core's MappedFile) for IRuntime::deserializeCudaEngine: no size
// limit (a JS Buffer stops at 2 GiB), no copy of ours. Failure(IO) for a missing, unreadable, empty
// or non-regular file.
std::shared_ptr<const MappedFile> map_plan(const std::string& path);
hrseg_trt_engine* open_engine(const char* plan_path, int32_t device);
void run_engine_device(hrseg_trt_engine& e, const hrseg_trt_value* inputs, int32_t count, hrseg_trt_value* outputs,
                       int32_t output_count);
size_t element_size(int32_t dtype);

}  // namespace hrseg::trt
