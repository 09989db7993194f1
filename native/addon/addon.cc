// Module entry: the binding is thin on purpose; all computation lives in native/core and native/cuda.
#include <napi.h>

#include "async_work.h"
#include "embedding_binding.h"
#include "errors.h"
#include "head_binding.h"
#include "hrseg/thread_pool.h"
#include "mapped_file_binding.h"
#include "mask_generator_binding.h"
#include "mask_upscale_binding.h"
#include "quantize_binding.h"
#include "rle_binding.h"
#include "runtime_info.h"
#include "testing.h"
#include "trt_binding.h"
#include "views_binding.h"

namespace hrseg::addon {
namespace {

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw_error(info.Env(), "INVALID_ARGUMENT", "threads must be a number");
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 0) throw_error(info.Env(), "INVALID_ARGUMENT", "threads must be >= 0 (0 = one per core)");
  hrseg::set_num_threads(n);
  return Napi::Number::New(info.Env(), hrseg::num_threads());
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("runtimeInfo", Napi::Function::New(env, runtime_info, "runtimeInfo"));
  exports.Set("setNumThreads", Napi::Function::New(env, set_num_threads, "setNumThreads"));
  exports.Set("CancelHandle", CancelHandle::Define(env));
  register_trt(env, exports);
  register_head(env, exports);
  register_views(env, exports);
  register_mask_generator(env, exports);
  register_rle(env, exports);
  register_quantize(env, exports);
  register_mask_upscale(env, exports);
  register_embeddings(env, exports);
  register_mapped_file(env, exports);
  exports.Set("_testing", testing_exports(env));
  return exports;
}

}  // namespace hrseg::addon

// The init function must be an unqualified name for NODE_API_MODULE's token pasting.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return hrseg::addon::Init(env, exports); }
NODE_API_MODULE(hrseg, InitModule)
