#pragma once
#include <napi.h>

namespace hrseg::addon {
// loadHead, headImageStep, headInstructionStep, headDispose (see lib/head.ts).
void register_head(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
