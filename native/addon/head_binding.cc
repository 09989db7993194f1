#include "head_binding.h"

#include <memory>
#include <string>

#include "async_work.h"
#include "errors.h"
#include "hrseg/head.h"
#include "tensor_bridge.h"
#include "trt_binding.h"

#ifdef HRSEG_WITH_CUDA
#include "hrseg_cuda/device_info.h"
#include "hrseg_cuda/head_cuda.h"
#endif

namespace hrseg::addon {

namespace {

// What a JS Head object holds. The weights may borrow a caller's Buffer, kept alive here.
// With device "cuda" the GPU head does the work; `head` is then null.
struct HeadHandle {
  std::shared_ptr<const Head> head;
#ifdef HRSEG_WITH_CUDA
  std::shared_ptr<const cuda::HeadCuda> gpu;
#endif
  std::shared_ptr<Napi::ObjectReference> source;
  bool live() const {
#ifdef HRSEG_WITH_CUDA
    if (gpu) return true;
#endif
    return head != nullptr;
  }
  const HeadConfig& config() const {
#ifdef HRSEG_WITH_CUDA
    if (gpu) return gpu->config();
#endif
    return head->config();
  }
};

// The image step's outputs as JS tensors (native memory handed over, no copy).
Napi::Object features_to_js(Napi::Env env, ImageFeatures&& f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("region", tensor_to_js(env, std::move(f.region)));
  o.Set("hybrid", tensor_to_js(env, std::move(f.hybrid)));
  o.Set("mHrp", tensor_to_js(env, std::move(f.m_hrp)));
  o.Set("mHre", tensor_to_js(env, std::move(f.m_hre)));
  return o;
}

// Why `device: "cuda"` cannot run here, or empty when it can.
std::string cuda_unavailable() {
#ifdef HRSEG_WITH_CUDA
  auto q = cuda::query_devices();
  return q.devices.empty() ? q.reason : "";
#else
  return "this binary was built without CUDA";
#endif
}

int64_t get_int(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(env, "INVALID_ARGUMENT", std::string("head config: ") + key + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

double get_num(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(env, "INVALID_ARGUMENT", std::string("head config: ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::string get_str(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw_error(env, "INVALID_ARGUMENT", std::string("head config: ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Strategy parse_strategy(Napi::Env env, const std::string& s) {
  if (s == "top1-sim") return Strategy::Top1Sim;
  if (s == "top1-iop") return Strategy::Top1Iop;
  if (s == "iop-threshold") return Strategy::IopThreshold;
  if (s == "topk-sim") return Strategy::TopkSim;
  if (s == "topk-sim-iop") return Strategy::TopkSimIop;
  throw_error(env, "INVALID_ARGUMENT", "unknown selection strategy '" + s + "'");
}

// { strategy, k, tau }: the config's default selection and the per-call override share this.
SelectionOverride parse_selection(Napi::Env env, Napi::Value value, const char* where) {
  if (!value.IsObject()) throw_error(env, "INVALID_ARGUMENT", std::string(where) + " must be an object");
  Napi::Object o = value.As<Napi::Object>();
  SelectionOverride s;
  s.set = true;
  s.strategy = parse_strategy(env, get_str(env, o, "strategy"));
  s.top_k = get_int(env, o, "k");
  s.tau = static_cast<float>(get_num(env, o, "tau"));
  const std::string fallback = get_str(env, o, "fallback");
  if (fallback != "top1-sim" && fallback != "none")
    throw_error(env, "INVALID_ARGUMENT", std::string(where) + ".fallback must be \"top1-sim\" or \"none\"");
  s.fallback = fallback == "none" ? Fallback::None : Fallback::Top1Sim;
  return s;
}

// The config arrives complete and range-checked from lib/head.ts; this only converts it.
HeadConfig parse_config(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throw_error(env, "INVALID_ARGUMENT", "head config must be an object");
  Napi::Object o = value.As<Napi::Object>();
  HeadConfig c;
  c.feature_dim = get_int(env, o, "featureDim");
  c.dim = get_int(env, o, "dim");
  c.global_grid = get_int(env, o, "globalGrid");
  c.magnification = get_int(env, o, "magnification");
  c.hrp = o.Get("hrp").ToBoolean().Value();
  c.gamma = static_cast<float>(get_num(env, o, "gamma"));
  c.pool_hybrid = get_str(env, o, "poolSource") == "hybrid";
  c.pool_size = get_int(env, o, "poolSize");
  c.pool_pulled_back = get_str(env, o, "maskPooling") != "direct";
  c.mask_resize = get_str(env, o, "maskResize") == "area" ? MaskResize::Area : MaskResize::BilinearAntialias;
  c.hre_layers = get_int(env, o, "hreLayers");
  c.hre_heads = get_int(env, o, "hreHeads");
  c.hidden_size = get_int(env, o, "hiddenSize");
  c.fusion_blocks = get_int(env, o, "fusionBlocks");
  c.fusion_heads = get_int(env, o, "fusionHeads");
  c.fusion_mlp_dim = get_int(env, o, "fusionMlpDim");
  c.iop_hidden = get_int(env, o, "iopHidden");
  c.embed_hidden = get_int(env, o, "embedHidden");
  const SelectionOverride sel = parse_selection(env, o.Get("selection"), "head config: selection");
  c.strategy = sel.strategy;
  c.top_k = sel.top_k;
  c.tau = sel.tau;
  c.fallback = sel.fallback;
  return c;
}

HeadHandle* unwrap_handle(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw_error(env, "INVALID_ARGUMENT", "expected a head handle");
  HeadHandle* h = v.As<Napi::External<HeadHandle>>().Data();
  if (!h->live()) throw_error(env, "INVALID_ARGUMENT", "this head has been disposed");
  return h;
}

Napi::Value load_head(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadConfig config = parse_config(env, info[1]);
  auto token = cancel_token_arg(env, info[2]);
  const bool on_gpu = info[3].IsString() && info[3].As<Napi::String>().Utf8Value() == "cuda";
  if (on_gpu) {
    const std::string why = cuda_unavailable();
    if (!why.empty()) throw_error(env, "DEVICE_UNAVAILABLE", "device 'cuda': " + why);
  }
  auto handle = std::make_shared<HeadHandle>();
  std::string path;
  const void* data = nullptr;
  size_t size = 0;
  if (info[0].IsString()) {
    path = info[0].As<Napi::String>().Utf8Value();
    if (path.empty()) throw_error(env, "INVALID_ARGUMENT", "weights path is empty");
  } else if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    if (bytes.ArrayBuffer().IsDetached()) throw_error(env, "INVALID_ARGUMENT", "weights buffer is detached");
    data = bytes.Data();
    size = bytes.ByteLength();
    handle->source = std::make_shared<Napi::ObjectReference>(Napi::Persistent(bytes.As<Napi::Object>()));
  } else {
    throw_error(env, "INVALID_ARGUMENT", "weights must be a file path or a Uint8Array (Buffer)");
  }
  return PromiseWorker::Start(
      env,
      [handle, path, data, size, config, token, on_gpu] {
        auto st = path.empty() ? SafeTensors::borrow(data, size, "head weights (buffer)") : SafeTensors::open(path);
        token->check();
#ifdef HRSEG_WITH_CUDA
        if (on_gpu) {
          handle->gpu = std::make_shared<const cuda::HeadCuda>(std::move(st), config);
          return;
        }
#else
        (void)on_gpu;
#endif
        handle->head = std::make_shared<const Head>(std::move(st), config);
      },
      [handle](Napi::Env e) -> Napi::Value {
        auto* owned = new HeadHandle(*handle);
        return Napi::External<HeadHandle>::New(e, owned, [](Napi::Env, HeadHandle* h) { delete h; });
      },
      {});
}

Napi::Value dispose_head(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    HeadHandle* h = info[0].As<Napi::External<HeadHandle>>().Data();
    h->head.reset();  // running operations hold their own reference and finish normally
#ifdef HRSEG_WITH_CUDA
    h->gpu.reset();
#endif
    h->source.reset();
  }
  return info.Env().Undefined();
}

// Frees an image's device state (M_HRE and the proposals on the GPU) now, not when the garbage
// collector finds its handle: an instruction step already running holds its own reference and
// finishes; a later one is refused. A CPU head's images have none: nothing to do.
Napi::Value release_image(const Napi::CallbackInfo& info) {
#ifdef HRSEG_WITH_CUDA
  if (info[0].IsExternal()) info[0].As<Napi::External<std::shared_ptr<cuda::DeviceImage>>>().Data()->reset();
#endif
  return info.Env().Undefined();
}

// The proposals of an image step: uint8 [K, H, W] with H, W > 0.
BorrowedTensor borrow_proposals(Napi::Env env, Napi::Value value) {
  auto masks = borrow_tensor(env, value, "proposals");
  guard(env, [&] {
    expect_tensor(masks.view, "proposals", DType::U8, {-1, -1, -1});
    return 0;
  });
  if (masks.view.dims[1] == 0 || masks.view.dims[2] == 0)
    throw_error(env, "INVALID_TENSOR", "proposals: height and width must be positive");
  return masks;
}

#ifdef HRSEG_WITH_CUDA
// The GPU image step's host copies for JS, plus the device state the instruction step reuses.
Napi::Value device_image_to_js(Napi::Env e, const std::shared_ptr<cuda::DeviceImage>& device_image) {
  Napi::Object o = features_to_js(e, std::move(device_image->host));
  using Held = std::shared_ptr<cuda::DeviceImage>;
  o.Set("deviceImage", Napi::External<Held>::New(e, new Held(device_image), [](Napi::Env, Held* p) { delete p; }));
  return o;
}
#endif

Napi::Value image_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadHandle* h = unwrap_handle(env, info[0]);
  auto head = h->head;
  auto source = h->source;
#ifdef HRSEG_WITH_CUDA
  auto gpu = h->gpu;
#endif
  const HeadConfig& c = h->config();
  const int64_t ng = c.global_grid, nl = c.magnification * ng;
  auto fg = borrow_tensor(env, info[1], "globalFeatures");
  // Without HRP (LLM-Seg) there is no local view: localFeatures is not read and may be absent.
  BorrowedTensor fl;
  if (c.hrp || !(info[2].IsUndefined() || info[2].IsNull())) fl = borrow_tensor(env, info[2], "localFeatures");
  guard(env, [&] {
    expect_tensor(fg.view, "globalFeatures", DType::F32, {ng * ng, c.feature_dim});
    if (c.hrp) expect_tensor(fl.view, "localFeatures", DType::F32, {nl * nl, c.feature_dim});
    return 0;
  });
  auto masks = borrow_proposals(env, info[3]);
  auto token = cancel_token_arg(env, info[4]);
  TensorView vfg = fg.view, vfl = fl.view, vm = masks.view;
#ifdef HRSEG_WITH_CUDA
  if (gpu) {
    auto device_image = std::make_shared<cuda::DeviceImage>();
    return PromiseWorker::Start(
        env,
        [gpu, source, vfg, vfl, vm, token, device_image] {
          token->check();
          *device_image =
              gpu->image_step(vfg.as<float>(), vfl.as<float>(), vm.as<uint8_t>(), vm.dims[0], vm.dims[1], vm.dims[2]);
        },
        [device_image](Napi::Env e) -> Napi::Value { return device_image_to_js(e, device_image); },
        {fg.keep_alive, fl.keep_alive, masks.keep_alive});
  }
#endif
  auto result = std::make_shared<ImageFeatures>();
  return PromiseWorker::Start(
      env,
      [head, source, vfg, vfl, vm, token, result] {
        *result = head->image_step(vfg.as<float>(), vfl.as<float>(), vm.as<uint8_t>(), vm.dims[0], vm.dims[1],
                                   vm.dims[2], token.get());
      },
      [result](Napi::Env e) -> Napi::Value { return features_to_js(e, std::move(*result)); },
      {fg.keep_alive, fl.keep_alive, masks.keep_alive});
}

// headImageStepDevice(handle, tokens, proposals, cancel): the image step from DINOv2's patch tokens
// left on the device by a TensorRT engine ({ dtype, dims: [views, n_g², C], device }); GPU head only.
Napi::Value image_step_device(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadHandle* h = unwrap_handle(env, info[0]);
#ifdef HRSEG_WITH_CUDA
  auto gpu = h->gpu;
  auto source = h->source;
  if (!gpu)
    throw_error(env, "INVALID_ARGUMENT", "DINOv2 tokens on the device need the GPU head (device 'cuda' or 'tensorrt')");
  const HeadConfig& c = h->config();
  if (!info[1].IsObject()) throw_error(env, "INVALID_ARGUMENT", "headImageStepDevice: a device value is required");
  Dims dims;
  const auto* tokens = static_cast<const float*>(device_tensor_data(
      env, info[1].As<Napi::Object>(), DType::F32, {-1, c.global_grid * c.global_grid, c.feature_dim}, &dims));
  auto tokens_keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(info[1].As<Napi::Object>()));
  auto masks = borrow_proposals(env, info[2]);
  auto token = cancel_token_arg(env, info[3]);
  const TensorView vm = masks.view;
  const int64_t views = dims[0];
  auto device_image = std::make_shared<cuda::DeviceImage>();
  return PromiseWorker::Start(
      env,
      [gpu, source, tokens, views, vm, token, device_image] {
        token->check();
        *device_image =
            gpu->image_step_from_tokens(tokens, views, vm.as<uint8_t>(), vm.dims[0], vm.dims[1], vm.dims[2]);
      },
      [device_image](Napi::Env e) -> Napi::Value { return device_image_to_js(e, device_image); },
      {tokens_keep, masks.keep_alive});
#else
  (void)h;
  throw_error(env, "DEVICE_UNAVAILABLE", "this binary was built without CUDA");
#endif
}

Napi::Value instruction_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadHandle* h = unwrap_handle(env, info[0]);
  auto head = h->head;
  auto source = h->source;
#ifdef HRSEG_WITH_CUDA
  auto gpu = h->gpu;
#endif
  const HeadConfig& c = h->config();
  auto mhre = borrow_tensor(env, info[1], "mHre");
  auto hseg = borrow_tensor(env, info[2], "hSeg");
  auto masks = borrow_tensor(env, info[3], "proposals");
  SelectionOverride sel;
  if (!info[4].IsUndefined() && !info[4].IsNull()) sel = parse_selection(env, info[4], "selection");
  auto token = cancel_token_arg(env, info[5]);
  guard(env, [&] {
    expect_tensor(masks.view, "proposals", DType::U8, {-1, -1, -1});
    expect_tensor(mhre.view, "mHre", DType::F32, {masks.view.dims[0], c.dim});
    expect_tensor(hseg.view, "hSeg", DType::F32, {-1, c.hidden_size});
    return 0;
  });
  auto result = std::make_shared<InstructionOutput>();
  TensorView vm = mhre.view, vh = hseg.view, vk = masks.view;
#ifdef HRSEG_WITH_CUDA
  std::shared_ptr<cuda::DeviceImage> device_image;
  if (gpu) {
    if (!info[6].IsExternal())
      throw_error(env, "INVALID_ARGUMENT",
                  "this image was prepared by a CPU head; a CUDA head needs its own image step");
    device_image = *info[6].As<Napi::External<std::shared_ptr<cuda::DeviceImage>>>().Data();
    if (!device_image)
      throw_error(env, "INVALID_ARGUMENT",
                  "this image's device state has been released (PreparedImage.release or the head's dispose): prepare "
                  "it again");
  }
#endif
  return PromiseWorker::Start(
      env,
      [head, source, vm, vh, vk, sel, token, result
#ifdef HRSEG_WITH_CUDA
       ,
       gpu, device_image
#endif
  ] {
#ifdef HRSEG_WITH_CUDA
        if (gpu) {
          token->check();
          *result = gpu->instruction_step(*device_image, vh.as<float>(), vh.dims[0], sel);
          return;
        }
#endif
        *result = head->instruction_step(vm.as<float>(), vk.dims[0], vh.as<float>(), vh.dims[0], vk.as<uint8_t>(),
                                         vk.dims[1], vk.dims[2], sel, token.get());
      },
      [result](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("text", tensor_to_js(e, std::move(result->text)));
        o.Set("embeddings", tensor_to_js(e, std::move(result->embeddings)));
        o.Set("similarity", tensor_to_js(e, std::move(result->similarity)));
        o.Set("iop", tensor_to_js(e, std::move(result->iop)));
        o.Set("masks", tensor_to_js(e, std::move(result->masks)));
        Napi::Array sels = Napi::Array::New(e, result->selections.size());
        for (size_t i = 0; i < result->selections.size(); ++i) {
          Napi::Object s = Napi::Object::New(e);
          Napi::Array chosen = Napi::Array::New(e, result->selections[i].chosen.size());
          for (size_t j = 0; j < result->selections[i].chosen.size(); ++j)
            chosen.Set(static_cast<uint32_t>(j), static_cast<double>(result->selections[i].chosen[j]));
          s.Set("chosen", chosen);
          s.Set("fallback", result->selections[i].fallback);
          sels.Set(static_cast<uint32_t>(i), s);
        }
        o.Set("selections", sels);
        return o;
      },
      {mhre.keep_alive, hseg.keep_alive, masks.keep_alive});
}

}  // namespace

void register_head(Napi::Env env, Napi::Object exports) {
  exports.Set("loadHead", Napi::Function::New(env, load_head, "loadHead"));
  exports.Set("headDispose", Napi::Function::New(env, dispose_head, "headDispose"));
  exports.Set("headReleaseImage", Napi::Function::New(env, release_image, "headReleaseImage"));
  exports.Set("headImageStep", Napi::Function::New(env, image_step, "headImageStep"));
  exports.Set("headImageStepDevice", Napi::Function::New(env, image_step_device, "headImageStepDevice"));
  exports.Set("headInstructionStep", Napi::Function::New(env, instruction_step, "headInstructionStep"));
}

}  // namespace hrseg::addon
