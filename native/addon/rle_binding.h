#pragma once
#include <napi.h>

namespace hrseg::addon {
// rleEncode, rleDecode (see lib/rle.ts).
void register_rle(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
