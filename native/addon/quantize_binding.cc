#include "quantize_binding.h"

#include <string>

#include "errors.h"
#include "hrseg/quantize.h"

namespace hrseg::addon {

namespace {

// quantizeBlockwise(w: Float32Array [out·in], out, in, bits, block, asymmetric, clipSearch)
//   → { codes: Uint8Array, scales: Float32Array, zeroPoints?: Uint8Array }
// Synchronous: the converter writes one weight at a time and needs it before the next; the work
// itself is spread over the thread pool.
Napi::Value quantize_blockwise_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_error(env, "INVALID_ARGUMENT", "quantizeBlockwise: weights must be a Float32Array");
  for (size_t i = 1; i <= 4; ++i)
    if (!info[i].IsNumber())
      throw_error(env, "INVALID_ARGUMENT", "quantizeBlockwise: out, in, bits and block must be numbers");
  auto w = info[0].As<Napi::Float32Array>();
  const int64_t out = info[1].As<Napi::Number>().Int64Value(), in = info[2].As<Napi::Number>().Int64Value();
  BlockQuantOptions o;
  o.bits = info[3].As<Napi::Number>().Int32Value();
  o.block = info[4].As<Napi::Number>().Int64Value();
  o.asymmetric = info[5].ToBoolean();
  o.clip_search = info[6].IsUndefined() ? true : info[6].ToBoolean().Value();
  if (out < 1 || in < 1 || static_cast<int64_t>(w.ElementLength()) != out * in)
    throw_error(env, "INVALID_ARGUMENT",
                "quantizeBlockwise: " + std::to_string(w.ElementLength()) + " weights for " + std::to_string(out) +
                    "×" + std::to_string(in));
  return guard(env, [&]() -> Napi::Value {
    if (o.block < 2 || in % o.block != 0)
      throw Error(ErrorCode::InvalidArgument, "quantize: block size " + std::to_string(o.block) +
                                                  " does not divide the input dimension " + std::to_string(in));
    const int64_t n = out * in, nb = (in / o.block) * out;
    const auto packed = [&](int64_t count) { return static_cast<size_t>(o.bits == 8 ? count : (count + 1) / 2); };
    auto codes = Napi::Uint8Array::New(env, packed(n));  // zero-filled by V8
    auto scales = Napi::Float32Array::New(env, static_cast<size_t>(nb));
    Napi::Uint8Array zps = o.asymmetric ? Napi::Uint8Array::New(env, packed(nb)) : Napi::Uint8Array();
    quantize_blockwise(w.Data(), out, in, o, codes.Data(), scales.Data(), o.asymmetric ? zps.Data() : nullptr);
    auto result = Napi::Object::New(env);
    result.Set("codes", codes);
    result.Set("scales", scales);
    if (o.asymmetric) result.Set("zeroPoints", zps);
    return result;
  });
}

}  // namespace

void register_quantize(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeBlockwise", Napi::Function::New(env, quantize_blockwise_js, "quantizeBlockwise"));
}

}  // namespace hrseg::addon
