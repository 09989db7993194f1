// TensorRT from JS: engine builds with progress and cancellation, engines whose outputs stay on
// the device, and device values (lib/engines/tensorrt.ts wraps them behind the Engine interface).
// Whether TensorRT is available is part of runtimeInfo().
#pragma once
#include <napi.h>

#include "hrseg/dtype.h"
#include "hrseg/tensor.h"

namespace hrseg::addon {

void register_trt(Napi::Env env, Napi::Object exports);

// The device pointer of a JS device value { dtype, dims, device } (a TensorRT engine's output),
// checked against dtype and expected dims (-1 = any); its dims are written to *dims. Throws a
// coded JS error otherwise. The caller keeps the JS value alive while the pointer is used.
const void* device_tensor_data(Napi::Env env, Napi::Object value, DType dtype, const Dims& expected, Dims* dims);

}  // namespace hrseg::addon
