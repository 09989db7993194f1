#include "embedding_binding.h"

#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "hrseg/embedding_table.h"
#include "tensor_bridge.h"

namespace hrseg::addon {

namespace {

using Handle = std::shared_ptr<const EmbeddingTable>;

// Opening maps the file (no read of the table), so it is cheap enough for the JS thread.
Napi::Value open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "INVALID_ARGUMENT", "embeddings: path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const std::string name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  Handle table = guard(env, [&] { return std::make_shared<const EmbeddingTable>(SafeTensors::open(path), name); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<Handle>::New(env, new Handle(table), [](Napi::Env, Handle* h) { delete h; }));
  o.Set("vocab", static_cast<double>(table->vocab()));
  o.Set("dim", static_cast<double>(table->dim()));
  return o;
}

// A few hundred rows per call at most: gathered on the JS thread, straight into a new tensor.
Napi::Value gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw_error(env, "INVALID_ARGUMENT", "expected an embeddings handle");
  Handle table = *info[0].As<Napi::External<Handle>>().Data();
  if (!info[1].IsArray()) throw_error(env, "INVALID_ARGUMENT", "token ids must be an array of integers");
  Napi::Array a = info[1].As<Napi::Array>();
  std::vector<int64_t> ids(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value v = a.Get(i);
    if (!v.IsNumber())
      throw_error(env, "INVALID_ARGUMENT", "token ids must be integers (at index " + std::to_string(i) + ")");
    ids[i] = v.As<Napi::Number>().Int64Value();
  }
  return guard(env, [&]() -> Napi::Value {
    Tensor out(DType::F32, {1, static_cast<int64_t>(ids.size()), table->dim()});
    table->gather(ids.data(), static_cast<int64_t>(ids.size()), out.as<float>());
    return tensor_to_js(env, std::move(out));
  });
}

}  // namespace

void register_embeddings(Napi::Env env, Napi::Object exports) {
  exports.Set("openEmbeddings", Napi::Function::New(env, open, "openEmbeddings"));
  exports.Set("embeddingsGather", Napi::Function::New(env, gather, "embeddingsGather"));
}

}  // namespace hrseg::addon
