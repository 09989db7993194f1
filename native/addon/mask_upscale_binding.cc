#include "mask_upscale_binding.h"

#include "errors.h"
#include "hrseg/mask_upscale.h"
#include "tensor_bridge.h"

namespace hrseg::addon {

namespace {

int64_t size_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw_error(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 1 && v <= (1 << 20) && v == static_cast<double>(static_cast<int64_t>(v))))
    throw_error(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be an integer in [1, 2^20]");
  return static_cast<int64_t>(v);
}

// upscaleMaskLogits(low float32 [n, L, L], frame, height, width) → float32 [n, height, width].
// On the JS thread: one mask of a 12-megapixel photo is a few tens of milliseconds.
Napi::Value upscale(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto low = borrow_tensor(env, info[0], "low");
  const int64_t frame = size_arg(info, 1, "frame"), height = size_arg(info, 2, "height"),
                width = size_arg(info, 3, "width");
  return guard(env, [&]() -> Napi::Value {
    expect_tensor(low.view, "low", DType::F32, {-1, -1, -1});
    const int64_t n = low.view.dims[0], L = low.view.dims[1];
    if (low.view.dims[2] != L)
      throw Error(ErrorCode::InvalidArgument, "low: the low-resolution logits must be square [n, L, L]");
    if (height * width > (int64_t{1} << 28))
      throw Error(ErrorCode::InvalidArgument, "upscaleMaskLogits: the output is over 2^28 pixels");
    Tensor out(DType::F32, {n, height, width});
    upscale_mask_logits(low.view.as<float>(), n, L, frame, height, width, out.as<float>());
    return tensor_to_js(env, std::move(out));
  });
}

}  // namespace

void register_mask_upscale(Napi::Env env, Napi::Object exports) {
  exports.Set("upscaleMaskLogits", Napi::Function::New(env, upscale, "upscaleMaskLogits"));
}

}  // namespace hrseg::addon
