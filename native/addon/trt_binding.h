// TensorRT from JS: status, engine builds with progress and cancellation, and engines that run
// host tensors (lib/engines/tensorrt.ts wraps them behind the Engine interface).
#pragma once
#include <napi.h>

namespace hrseg::addon {

void register_trt(Napi::Env env, Napi::Object exports);

}  // namespace hrseg::addon
