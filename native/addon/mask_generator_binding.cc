#include "mask_generator_binding.h"

#include <memory>
#include <mutex>
#include <string>

#include "async_work.h"
#include "errors.h"
#include "hrseg/mask_generator.h"
#include "tensor_bridge.h"
#include "trt_binding.h"

#ifdef HRSEG_WITH_CUDA
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/device_info.h"
#include "hrseg_cuda/mask_generator_cuda.h"
#endif

namespace hrseg::addon {

namespace {

// Batches mutate the generator; the mutex makes concurrent JS calls safe (lib/ also serialises them).
// With device "cuda", `gpu` does the work: each batch's logits are copied to the device once.
struct GeneratorHandle {
  std::mutex mutex;
  std::unique_ptr<MaskGenerator> generator;
#ifdef HRSEG_WITH_CUDA
  std::unique_ptr<cuda::MaskGeneratorCuda> gpu;
#endif
  int64_t low = 0;
};

double num(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(env, "INVALID_ARGUMENT", std::string("mask generator: ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::shared_ptr<GeneratorHandle> unwrap(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw_error(env, "INVALID_ARGUMENT", "expected a mask generator handle");
  auto* h = v.As<Napi::External<std::shared_ptr<GeneratorHandle>>>().Data();
  return *h;
}

Napi::Value create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsObject())
    throw_error(env, "INVALID_ARGUMENT", "mask generator: config and geometry must be objects");
  Napi::Object c = info[0].As<Napi::Object>(), g = info[1].As<Napi::Object>();
  MaskGeneratorConfig config;
  config.pred_iou_threshold = num(env, c, "predIouThreshold");
  config.stability_threshold = num(env, c, "stabilityThreshold");
  config.stability_offset = num(env, c, "stabilityOffset");
  config.mask_threshold = num(env, c, "maskThreshold");
  config.nms_iou_threshold = num(env, c, "boxNmsThreshold");
  config.max_proposals = static_cast<int64_t>(num(env, c, "maxProposals"));
  MaskGeometry geometry;
  geometry.low = static_cast<int64_t>(num(env, g, "low"));
  geometry.frame = static_cast<int64_t>(num(env, g, "frame"));
  geometry.height = static_cast<int64_t>(num(env, g, "height"));
  geometry.width = static_cast<int64_t>(num(env, g, "width"));
  auto handle = std::make_shared<GeneratorHandle>();
  handle->low = geometry.low;
  const bool on_gpu = info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "cuda";
  if (on_gpu) {
#ifdef HRSEG_WITH_CUDA
    auto q = cuda::query_devices();
    if (q.devices.empty()) throw_error(env, "DEVICE_UNAVAILABLE", "device 'cuda': " + q.reason);
    guard(env, [&] {
      handle->gpu = std::make_unique<cuda::MaskGeneratorCuda>(config, geometry);
      return 0;
    });
#else
    throw_error(env, "DEVICE_UNAVAILABLE", "device 'cuda': this binary was built without CUDA");
#endif
  } else {
    guard(env, [&] {
      handle->generator = std::make_unique<MaskGenerator>(config, geometry);
      return 0;
    });
  }
  return Napi::External<std::shared_ptr<GeneratorHandle>>::New(
      env, new std::shared_ptr<GeneratorHandle>(handle),
      [](Napi::Env, std::shared_ptr<GeneratorHandle>* p) { delete p; });
}

Napi::Value add_batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto handle = unwrap(env, info[0]);
  const int64_t low = handle->low;
  // The logits may be a TensorRT decoder's output still on the device ({ dtype, dims, device }):
  // the CUDA generator reads them in place, with no round trip through host memory.
  const bool on_device = info[1].IsObject() && info[1].As<Napi::Object>().Has("device");
  TensorView vl;
  std::shared_ptr<Napi::ObjectReference> logits_keep;
  const void* device_logits = nullptr;
  if (on_device) {
#ifdef HRSEG_WITH_CUDA
    if (!handle->gpu)
      throw_error(env, "INVALID_ARGUMENT", "device logits need the CUDA mask generator (device 'cuda')");
#endif
    Dims dims;
    device_logits = device_tensor_data(env, info[1].As<Napi::Object>(), DType::F32, {-1, -1, low, low}, &dims);
    vl.dtype = DType::F32;
    vl.dims = dims;
    logits_keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(info[1].As<Napi::Object>()));
  } else {
    auto logits = borrow_tensor(env, info[1], "low_res_masks");
    guard(env, [&] {
      expect_tensor(logits.view, "low_res_masks", DType::F32, {-1, -1, low, low});
      return 0;
    });
    vl = logits.view;
    logits_keep = logits.keep_alive;
  }
  auto iou = borrow_tensor(env, info[2], "iou_predictions");
  auto points = borrow_tensor(env, info[3], "points");
  auto token = cancel_token_arg(env, info[4]);
  guard(env, [&] {
    expect_tensor(iou.view, "iou_predictions", DType::F32, {vl.dims[0], vl.dims[1]});
    expect_tensor(points.view, "points", DType::F32, {vl.dims[0], 2});
    return 0;
  });
  const TensorView vi = iou.view, vp = points.view;
  return PromiseWorker::Start(
      env,
      [handle, vl, vi, vp, token, device_logits] {
        std::lock_guard<std::mutex> lock(handle->mutex);
        token->check();
#ifdef HRSEG_WITH_CUDA
        if (handle->gpu) {
          if (device_logits) {
            handle->gpu->add_batch(static_cast<const float*>(device_logits), vi.as<float>(), vp.as<float>(), vl.dims[0],
                                   vl.dims[1]);
            return;
          }
          auto logits = cuda::to_device(vl.as<float>(), static_cast<size_t>(vl.numel()));
          handle->gpu->add_batch(logits.get(), vi.as<float>(), vp.as<float>(), vl.dims[0], vl.dims[1]);
          return;
        }
#endif
        if (device_logits) throw Error(ErrorCode::InvalidArgument, "device logits need the CUDA mask generator");
        handle->generator->add_batch(vl.as<float>(), vi.as<float>(), vp.as<float>(), vl.dims[0], vl.dims[1],
                                     token.get());
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {logits_keep, iou.keep_alive, points.keep_alive});
}

Napi::Value finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto handle = unwrap(env, info[0]);
  auto token = cancel_token_arg(env, info[1]);
  auto result = std::make_shared<Proposals>();
  return PromiseWorker::Start(
      env,
      [handle, token, result] {
        std::lock_guard<std::mutex> lock(handle->mutex);
#ifdef HRSEG_WITH_CUDA
        if (handle->gpu) {
          token->check();
          *result = handle->gpu->finish();
          return;
        }
#endif
        *result = handle->generator->finish(token.get());
      },
      [result](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("masks", tensor_to_js(e, std::move(result->masks)));
        o.Set("boxes", tensor_to_js(e, std::move(result->boxes)));
        o.Set("iou", tensor_to_js(e, std::move(result->iou)));
        o.Set("stability", tensor_to_js(e, std::move(result->stability)));
        o.Set("areas", tensor_to_js(e, std::move(result->areas)));
        o.Set("points", tensor_to_js(e, std::move(result->points)));
        o.Set("source", tensor_to_js(e, std::move(result->source)));
        Napi::Object counts = Napi::Object::New(e);
        counts.Set("evaluated", static_cast<double>(result->evaluated));
        counts.Set("passedIou", static_cast<double>(result->passed_iou));
        counts.Set("passedStability", static_cast<double>(result->passed_stability));
        counts.Set("afterNms", static_cast<double>(result->after_nms));
        o.Set("counts", counts);
        return o;
      },
      {});
}

}  // namespace

void register_mask_generator(Napi::Env env, Napi::Object exports) {
  exports.Set("createMaskGenerator", Napi::Function::New(env, create, "createMaskGenerator"));
  exports.Set("maskGeneratorAddBatch", Napi::Function::New(env, add_batch, "maskGeneratorAddBatch"));
  exports.Set("maskGeneratorFinish", Napi::Function::New(env, finish, "maskGeneratorFinish"));
}

}  // namespace hrseg::addon
