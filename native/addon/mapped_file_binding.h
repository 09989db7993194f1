#pragma once
#include <napi.h>

namespace hrseg::addon {
// mapFile, mapView, mapRelease (see lib/checkpoint/source.ts).
void register_mapped_file(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
