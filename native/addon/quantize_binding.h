#pragma once
#include <napi.h>

namespace hrseg::addon {
// quantizeBlockwise (see lib/convert/quantize.ts).
void register_quantize(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
