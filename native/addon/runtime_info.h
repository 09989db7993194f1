#pragma once
#include <napi.h>

namespace hrseg::addon {
// What this binary was built with and what it can reach on this machine (see lib/runtime.ts).
Napi::Value runtime_info(const Napi::CallbackInfo& info);
}  // namespace hrseg::addon
