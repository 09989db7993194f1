#pragma once
#include <napi.h>

namespace hrseg::addon {
// openEmbeddings, embeddingsGather (see lib/vlm/embeddings.ts).
void register_embeddings(Napi::Env env, Napi::Object exports);
}  // namespace hrseg::addon
