#include "rle_binding.h"

#include <string>
#include <vector>

#include "errors.h"
#include "hrseg/rle.h"
#include "tensor_bridge.h"

namespace hrseg::addon {

namespace {

// Linear in the mask size, so these run on the JS thread (a 1024² mask takes about a millisecond).
Napi::Value encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mask = borrow_tensor(env, info[0], "mask");
  return guard(env, [&]() -> Napi::Value {
    expect_tensor(mask.view, "mask", DType::U8, {-1, -1});
    const auto counts = rle_encode(mask.view.as<uint8_t>(), mask.view.dims[0], mask.view.dims[1]);
    return Napi::String::New(env, rle_to_string(counts));
  });
}

Napi::Value decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber())
    throw_error(env, "INVALID_ARGUMENT", "RLE: size must be [height, width]");
  const int64_t H = info[0].As<Napi::Number>().Int64Value(), W = info[1].As<Napi::Number>().Int64Value();
  if (H < 0 || W < 0 || H * W > (int64_t{1} << 32)) throw_error(env, "INVALID_ARGUMENT", "RLE: bad size");
  return guard(env, [&]() -> Napi::Value {
    std::vector<uint32_t> counts;
    if (info[2].IsString()) {
      counts = rle_from_string(info[2].As<Napi::String>().Utf8Value());
    } else if (info[2].IsArray()) {
      Napi::Array a = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value v = a.Get(i);
        const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
        if (!(d >= 0 && d <= 4294967295.0 && d == static_cast<double>(static_cast<uint32_t>(d))))
          throw Error(ErrorCode::InvalidArgument,
                      "RLE: counts must be non-negative integers (at index " + std::to_string(i) + ")");
        counts.push_back(static_cast<uint32_t>(d));
      }
    } else {
      throw Error(ErrorCode::InvalidArgument, "RLE: counts must be a string or an array of numbers");
    }
    Tensor mask(DType::U8, {H, W});
    rle_decode(counts, H, W, mask.as<uint8_t>());
    return tensor_to_js(env, std::move(mask));
  });
}

}  // namespace

void register_rle(Napi::Env env, Napi::Object exports) {
  exports.Set("rleEncode", Napi::Function::New(env, encode, "rleEncode"));
  exports.Set("rleDecode", Napi::Function::New(env, decode, "rleDecode"));
}

}  // namespace hrseg::addon
