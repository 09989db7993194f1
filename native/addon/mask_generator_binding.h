#pragma once
#include <napi.h>

namespace hrseg::addon {
// createMaskGenerator, maskGeneratorAddBatch, maskGeneratorFinish (see lib/proposals/mask-generator.ts).
void register_mask_generator(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
