#include "views_binding.h"

#include <memory>
#include <string>

#include "async_work.h"
#include "errors.h"
#include "hrseg/views.h"
#include "tensor_bridge.h"

namespace hrseg::addon {

namespace {

enum class Kind { Square, Tiled, CenterCrop };

struct ViewSpec {
  Kind kind = Kind::Square;
  int64_t size = 0, n = 1;
  Normalize norm{};
  Filter filter = Filter::BilinearAntialias;
  bool round8 = false;  // Pillow's 8-bit resize, exactly (views.h)
};

double number_field(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(env, "INVALID_ARGUMENT", std::string("view: ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

void triple_field(Napi::Env env, Napi::Object o, const char* key, float* out) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3)
    throw_error(env, "INVALID_ARGUMENT", std::string("view: ") + key + " must be an array of 3 numbers");
  for (uint32_t i = 0; i < 3; ++i) {
    Napi::Value e = v.As<Napi::Array>().Get(i);
    if (!e.IsNumber()) throw_error(env, "INVALID_ARGUMENT", std::string("view: ") + key + " must hold numbers");
    out[i] = e.As<Napi::Number>().FloatValue();
  }
}

ViewSpec parse_spec(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throw_error(env, "INVALID_ARGUMENT", "view spec must be an object");
  Napi::Object o = value.As<Napi::Object>();
  ViewSpec s;
  const std::string kind = o.Get("kind").ToString().Utf8Value();
  if (kind == "square")
    s.kind = Kind::Square;
  else if (kind == "tiled")
    s.kind = Kind::Tiled;
  else if (kind == "center-crop")
    s.kind = Kind::CenterCrop;
  else
    throw_error(env, "INVALID_ARGUMENT", "view: kind must be square, tiled or center-crop");
  const std::string filter = o.Get("filter").ToString().Utf8Value();
  if (filter == "bilinear")
    s.filter = Filter::BilinearAntialias;
  else if (filter == "bicubic")
    s.filter = Filter::BicubicAntialias;
  else
    throw_error(env, "INVALID_ARGUMENT", "view: filter must be bilinear or bicubic");
  s.round8 = o.Get("roundTo8Bits").ToBoolean();
  s.size = static_cast<int64_t>(number_field(env, o, "size"));
  if (s.kind == Kind::Tiled) s.n = static_cast<int64_t>(number_field(env, o, "magnification"));
  triple_field(env, o, "mean", s.norm.mean);
  triple_field(env, o, "std", s.norm.std);
  for (float sd : s.norm.std)
    if (!(sd > 0.0f)) throw_error(env, "INVALID_ARGUMENT", "view: std must be positive");
  return s;
}

Napi::Value make_view(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto image = borrow_tensor(env, info[0], "image");
  guard(env, [&] {
    expect_tensor(image.view, "image", DType::U8, {-1, -1, 3});
    return 0;
  });
  const ViewSpec spec = parse_spec(env, info[1]);
  auto token = cancel_token_arg(env, info[2]);
  struct Result {
    Tensor tensor;
    int64_t content_h = 0, content_w = 0;
  };
  auto result = std::make_shared<Result>();
  const TensorView v = image.view;
  return PromiseWorker::Start(
      env,
      [v, spec, token, result] {
        const Image8 img{v.as<uint8_t>(), v.dims[0], v.dims[1]};
        switch (spec.kind) {
          case Kind::Square:
            result->tensor = square_view(img, spec.size, spec.norm, spec.filter, token.get(), &result->content_h,
                                         &result->content_w, spec.round8);
            result->tensor.dims.insert(result->tensor.dims.begin(), 1);
            break;
          case Kind::Tiled:
            result->tensor = tiled_view(img, spec.size, spec.n, spec.norm, spec.filter, token.get());
            break;
          case Kind::CenterCrop:
            result->tensor = center_crop_view(img, spec.size, spec.norm, spec.filter, token.get(), spec.round8);
            result->tensor.dims.insert(result->tensor.dims.begin(), 1);
            break;
        }
      },
      [result](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("tensor", tensor_to_js(e, std::move(result->tensor)));
        o.Set("contentHeight", static_cast<double>(result->content_h));
        o.Set("contentWidth", static_cast<double>(result->content_w));
        return o;
      },
      {image.keep_alive});
}

}  // namespace

void register_views(Napi::Env env, Napi::Object exports) {
  exports.Set("makeView", Napi::Function::New(env, make_view, "makeView"));
}

}  // namespace hrseg::addon
