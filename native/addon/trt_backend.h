// hrseg's TensorRT layers, found beside hrseg.node and opened on first use: libhrseg_trt.so for
// TensorRT 11 and libhrseg_trt10.so for TensorRT 10 (the two majors are not binary compatible, so
// each layer is compiled against its own headers). The addon has no TensorRT headers; it only
// knows the C table of hrseg_trt_api.h, which is the same for both.
#pragma once
#include <string>

#include "hrseg_trt_api.h"

namespace hrseg::addon {

struct TrtBackend {
  const hrseg_trt_api* api = nullptr;  // null when no layer could load TensorRT
  std::string backend_path;            // the layer in use; the first one tried when none is
  int32_t major = 0;                   // the TensorRT major of the layer in use, 0 when none
  std::string selection;               // which layer, and why that one
  std::string reason;                  // why api is null
};

// Picks the layer. HRSEG_TENSORRT_MAJOR=10 or 11 names it; unset, the 11 layer is tried first (it
// loads when libnvinfer.so.11 is found and fits), then the 10 layer (libnvinfer.so.10). Each layer
// looks in $TENSORRT_ROOT/lib, $TENSORRT_ROOT, then the library path, and refuses a library of
// another major or older than its floor. A failure is remembered only until TensorRT appears:
// each call retries while unavailable.
const TrtBackend& trt_backend();

// The JS error code for an hrseg_trt_status.
const char* trt_status_code(int32_t status);

}  // namespace hrseg::addon
