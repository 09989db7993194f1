#pragma once
#include <napi.h>

namespace hrseg::addon {
// makeView (see lib/views.ts).
void register_views(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
