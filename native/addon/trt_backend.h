// libhrseg_trt.so, found beside hrseg.node and opened on first use. The addon has no TensorRT
// headers; it only knows the C table of hrseg_trt_api.h.
#pragma once
#include <string>

#include "hrseg_trt_api.h"

namespace hrseg::addon {

struct TrtBackend {
  const hrseg_trt_api* api = nullptr;  // null when the backend or TensorRT could not be loaded
  std::string backend_path;            // libhrseg_trt.so
  std::string reason;                  // why api is null
};

// Opens libhrseg_trt.so and asks it to load TensorRT ($TENSORRT_ROOT/lib, then the library path).
// A failure is remembered only until TensorRT appears: each call retries while unavailable.
const TrtBackend& trt_backend();

// The JS error code for an hrseg_trt_status.
const char* trt_status_code(int32_t status);

}  // namespace hrseg::addon
