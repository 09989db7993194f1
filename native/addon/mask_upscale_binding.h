#pragma once
#include <napi.h>

namespace hrseg::addon {
// upscaleMaskLogits (see lib/lisa/masks.ts).
void register_mask_upscale(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
