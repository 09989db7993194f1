#include "trt_binding.h"

#include <deque>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "async_work.h"
#include "errors.h"
#include "tensor_bridge.h"
#include "trt_backend.h"

namespace hrseg::addon {

namespace {

const hrseg_trt_api& require_api() {
  const TrtBackend& b = trt_backend();
  if (!b.api) throw CodedError("DEVICE_UNAVAILABLE", "TensorRT is not available: " + b.reason);
  return *b.api;
}

void check(int32_t status, const char* err) {
  if (status != HRSEG_TRT_OK) throw CodedError(trt_status_code(status), err);
}

int32_t to_trt_dtype(DType t) {
  switch (t) {
    case DType::F32:
      return HRSEG_TRT_F32;
    case DType::F16:
      return HRSEG_TRT_F16;
    case DType::BF16:
      return HRSEG_TRT_BF16;
    case DType::I32:
      return HRSEG_TRT_I32;
    case DType::I64:
      return HRSEG_TRT_I64;
    case DType::U8:
      return HRSEG_TRT_U8;
    case DType::Bool:
      return HRSEG_TRT_BOOL;
  }
  return -1;
}

DType from_trt_dtype(int32_t t) {
  switch (t) {
    case HRSEG_TRT_F32:
      return DType::F32;
    case HRSEG_TRT_F16:
      return DType::F16;
    case HRSEG_TRT_BF16:
      return DType::BF16;
    case HRSEG_TRT_I32:
      return DType::I32;
    case HRSEG_TRT_I64:
      return DType::I64;
    case HRSEG_TRT_U8:
      return DType::U8;
    case HRSEG_TRT_BOOL:
      return DType::Bool;
    default:
      throw CodedError("INVALID_TENSOR",
                       "the engine uses tensor type " + std::to_string(t) + ", which hrseg does not read");
  }
}

std::vector<int64_t> int_list(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throw_error(env, "INVALID_ARGUMENT", what + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > HRSEG_TRT_MAX_DIMS) throw_error(env, "INVALID_ARGUMENT", what + " has too many dimensions");
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber() || x.As<Napi::Number>().DoubleValue() < 0)
      throw_error(env, "INVALID_ARGUMENT", what + " must hold non-negative integers");
    out.push_back(x.As<Napi::Number>().Int64Value());
  }
  return out;
}

// What a build needs, owned (the JS strings and arrays are gone once the worker runs).
struct BuildJob {
  std::string onnx, plan, cache;
  int32_t device = 0;
  uint64_t workspace = 0;
  int32_t level = -1;
  std::vector<std::vector<std::string>> names;
  std::vector<std::vector<hrseg_trt_profile_dims>> dims;
  std::vector<hrseg_trt_profile> profiles;
  Napi::ThreadSafeFunction progress;
  bool has_progress = false;
  CancelTokenPtr cancel;
};

struct ProgressEvent {
  std::string phase;
  int32_t step, steps, depth;
};

// Called on TensorRT's builder threads through a C table: nothing may escape it.
int32_t on_progress(void* user, const char* phase, int32_t step, int32_t steps, int32_t depth) noexcept {
  auto* job = static_cast<BuildJob*>(user);
  try {
    if (job->has_progress) {
      auto* ev = new ProgressEvent{phase ? phase : "", step, steps, depth};
      const napi_status s = job->progress.NonBlockingCall(ev, [](Napi::Env env, Napi::Function fn, ProgressEvent* e) {
        std::unique_ptr<ProgressEvent> owned(e);
        if (env && fn)
          fn.Call({Napi::String::New(env, e->phase), Napi::Number::New(env, e->step), Napi::Number::New(env, e->steps),
                   Napi::Number::New(env, e->depth)});
      });
      if (s != napi_ok) delete ev;
    }
  } catch (...) {
    // A lost progress line is not worth a build.
  }
  return job->cancel && job->cancel->cancelled() ? 1 : 0;
}

// trtBuild({ onnx, plan, timingCache?, device, workspaceBytes?, optimizationLevel?, profiles }, onProgress?, cancel?)
Napi::Value build(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw_error(env, "INVALID_ARGUMENT", "trtBuild: options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    auto job = std::make_shared<BuildJob>();
    if (!o.Get("onnx").IsString() || !o.Get("plan").IsString())
      throw_error(env, "INVALID_ARGUMENT", "trtBuild: `onnx` and `plan` paths are required");
    job->onnx = o.Get("onnx").As<Napi::String>();
    job->plan = o.Get("plan").As<Napi::String>();
    if (o.Get("timingCache").IsString()) job->cache = o.Get("timingCache").As<Napi::String>();
    if (o.Get("device").IsNumber()) job->device = o.Get("device").As<Napi::Number>().Int32Value();
    if (o.Get("workspaceBytes").IsNumber())
      job->workspace = static_cast<uint64_t>(o.Get("workspaceBytes").As<Napi::Number>().DoubleValue());
    if (o.Get("optimizationLevel").IsNumber()) job->level = o.Get("optimizationLevel").As<Napi::Number>().Int32Value();
    Napi::Value profiles = o.Get("profiles");
    if (!profiles.IsArray()) throw_error(env, "INVALID_ARGUMENT", "trtBuild: `profiles` must be an array");
    Napi::Array pa = profiles.As<Napi::Array>();
    job->names.resize(pa.Length());
    job->dims.resize(pa.Length());
    for (uint32_t p = 0; p < pa.Length(); ++p) {
      Napi::Array inputs = pa.Get(p).As<Napi::Array>();
      for (uint32_t i = 0; i < inputs.Length(); ++i) {
        Napi::Object in = inputs.Get(i).As<Napi::Object>();
        job->names[p].push_back(in.Get("name").As<Napi::String>());
      }
      for (uint32_t i = 0; i < inputs.Length(); ++i) {
        Napi::Object in = inputs.Get(i).As<Napi::Object>();
        const std::string what = "profile " + std::to_string(p) + " input '" + job->names[p][i] + "'";
        auto mn = int_list(env, in.Get("min"), what + " min"), op = int_list(env, in.Get("opt"), what + " opt"),
             mx = int_list(env, in.Get("max"), what + " max");
        if (mn.size() != op.size() || mn.size() != mx.size())
          throw_error(env, "INVALID_ARGUMENT", what + ": min, opt and max differ in rank");
        hrseg_trt_profile_dims d{};
        d.name = job->names[p][i].c_str();
        d.nb_dims = static_cast<int32_t>(mn.size());
        for (size_t k = 0; k < mn.size(); ++k) d.min[k] = mn[k], d.opt[k] = op[k], d.max[k] = mx[k];
        job->dims[p].push_back(d);
      }
    }
    for (auto& d : job->dims) job->profiles.push_back({d.data(), static_cast<int32_t>(d.size())});
    if (info.Length() > 1 && info[1].IsFunction()) {
      job->progress =
          Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "hrseg-trt-build-progress", 0, 1);
      job->has_progress = true;
    }
    job->cancel = cancel_token_arg(env, info.Length() > 2 ? info[2] : env.Undefined());
    return PromiseWorker::Start(
        env,
        [job] {
          struct Release {
            BuildJob* j;
            ~Release() {
              if (j->has_progress) j->progress.Release();
            }
          } release{job.get()};
          const hrseg_trt_api& api = require_api();
          hrseg_trt_build_options opts{};
          opts.onnx_path = job->onnx.c_str();
          opts.plan_path = job->plan.c_str();
          opts.timing_cache_path = job->cache.empty() ? nullptr : job->cache.c_str();
          opts.device = job->device;
          opts.workspace_bytes = job->workspace;
          opts.optimization_level = job->level;
          opts.profiles = job->profiles.data();
          opts.profile_count = static_cast<int32_t>(job->profiles.size());
          opts.progress = on_progress;
          opts.progress_user = job.get();
          char err[8192] = {0};
          check(api.build(&opts, err, sizeof err), err);
        },
        [](Napi::Env env) { return env.Undefined(); });
  });
}

// An open engine, shared by the JS handle and any run in flight; closed when the last goes.
struct EngineHolder {
  const hrseg_trt_api* api = nullptr;
  hrseg_trt_engine* engine = nullptr;
  std::mutex run_mutex;  // one run at a time per engine (its context and buffers are shared)
  ~EngineHolder() {
    if (engine) api->close(engine);
  }
};
using HolderRef = std::shared_ptr<EngineHolder>;

HolderRef& holder_of(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw_error(env, "INVALID_ARGUMENT", "not a TensorRT engine handle");
  HolderRef* ref = v.As<Napi::External<HolderRef>>().Data();
  if (!ref || !*ref) throw_error(env, "INVALID_ARGUMENT", "the TensorRT engine was closed");
  return *ref;
}

Napi::Object io_info(Napi::Env env, const hrseg_trt_api& api, const hrseg_trt_engine* e) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array inputs = Napi::Array::New(env), outputs = Napi::Array::New(env);
  for (int32_t i = 0; i < api.io_count(e); ++i) {
    hrseg_trt_tensor_info t{};
    api.io_info(e, i, &t);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("dtype", dtype_name(from_trt_dtype(t.dtype)));
    Napi::Array dims = Napi::Array::New(env);
    for (int32_t k = 0; k < t.nb_dims; ++k) dims.Set(k, Napi::Number::New(env, static_cast<double>(t.dims[k])));
    o.Set("dims", dims);
    (t.is_input ? inputs : outputs).Set((t.is_input ? inputs : outputs).Length(), o);
  }
  out.Set("inputs", inputs);
  out.Set("outputs", outputs);
  return out;
}

// trtOpen(planPath: string, device) → Promise<{ handle, inputs, outputs }>. The layer maps the
// file itself: no JS buffer of the plan (a 7B decoder's plan is about 13 GB; a Buffer stops at 2 GiB).
Napi::Value open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw_error(env, "INVALID_ARGUMENT", "trtOpen: the plan's path must be a string");
    std::string path = info[0].As<Napi::String>();
    const int32_t device = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    auto holder = std::make_shared<EngineHolder>();
    return PromiseWorker::Start(
        env,
        [holder, path, device] {
          const hrseg_trt_api& api = require_api();
          holder->api = &api;
          char err[4096] = {0};
          check(api.open(path.c_str(), device, &holder->engine, err, sizeof err), err);
        },
        [holder](Napi::Env env) -> Napi::Value {
          Napi::Object out = io_info(env, *holder->api, holder->engine);
          out.Set("handle", Napi::External<HolderRef>::New(env, new HolderRef(holder),
                                                           [](Napi::Env, HolderRef* r) { delete r; }));
          return out;
        });
  });
}

// Device memory from the TensorRT layer, shared by the JS values that view it and any run in
// flight; freed with the last of them.
struct DeviceBufferRef {
  const hrseg_trt_api* api = nullptr;
  void* ptr = nullptr;
  size_t capacity = 0;
  int32_t device = 0;
  ~DeviceBufferRef() {
    if (api && ptr) api->device_free(ptr);
  }
};
using DeviceRef = std::shared_ptr<DeviceBufferRef>;

Napi::Value device_external(Napi::Env env, DeviceRef ref) {
  return Napi::External<DeviceRef>::New(env, new DeviceRef(std::move(ref)), [](Napi::Env, DeviceRef* r) { delete r; });
}

DeviceRef device_of(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw_error(env, "INVALID_ARGUMENT", "not a device buffer");
  DeviceRef* r = v.As<Napi::External<DeviceRef>>().Data();
  if (!r || !*r) throw_error(env, "INVALID_ARGUMENT", "the device buffer was released");
  return *r;
}

Dims dims_of(Napi::Env env, Napi::Value v, const std::string& what) {
  auto d = int_list(env, v, what + " dims");
  return Dims(d.begin(), d.end());
}

// A JS device value { dtype, dims, device }: its buffer, checked to hold dims of dtype.
struct DeviceView {
  DeviceRef ref;
  DType dtype;
  Dims dims;
};

DeviceView device_view(Napi::Env env, Napi::Object o, const std::string& what) {
  DeviceView v;
  v.ref = device_of(env, o.Get("device"));
  auto dt = o.Get("dtype").IsString() ? dtype_from_name(o.Get("dtype").As<Napi::String>().Utf8Value()) : std::nullopt;
  if (!dt) throw_error(env, "INVALID_TENSOR", what + ": unknown dtype");
  v.dtype = *dt;
  v.dims = dims_of(env, o.Get("dims"), what);
  const size_t bytes = static_cast<size_t>(element_count(v.dims)) * dtype_size(v.dtype);
  if (bytes > v.ref->capacity)
    throw_error(env, "INVALID_TENSOR",
                what + ": " + std::to_string(bytes) + " bytes do not fit its device buffer of " +
                    std::to_string(v.ref->capacity));
  return v;
}

Napi::Object device_value_to_js(Napi::Env env, DType dtype, const Dims& dims, DeviceRef ref) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("dtype", dtype_name(dtype));
  Napi::Array a = Napi::Array::New(env);
  for (size_t k = 0; k < dims.size(); ++k)
    a.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(dims[k])));
  o.Set("dims", a);
  o.Set("device", device_external(env, std::move(ref)));
  return o;
}

// trtRunDevice(handle, inputs, into?) → Promise<{ [output]: { dtype, dims, device } }>: inputs are
// host tensors or device values; `into` names device buffers for some outputs (the VLM's
// preallocated KV cache); other outputs get buffers of their size.
Napi::Value run_device(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    HolderRef holder = holder_of(env, info[0]);
    if (!info[1].IsArray()) throw_error(env, "INVALID_ARGUMENT", "trtRunDevice: inputs must be an array");
    Napi::Array list = info[1].As<Napi::Array>();
    auto names = std::make_shared<std::deque<std::string>>();
    auto values = std::make_shared<std::vector<hrseg_trt_value>>();
    auto held = std::make_shared<std::vector<DeviceRef>>();
    std::vector<std::shared_ptr<Napi::ObjectReference>> keep;
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Object t = list.Get(i).As<Napi::Object>();
      names->push_back(t.Get("name").As<Napi::String>());
      hrseg_trt_value v{};
      v.name = names->back().c_str();
      if (t.Has("device")) {
        DeviceView d = device_view(env, t, "input '" + names->back() + "'");
        v.data = d.ref->ptr, v.on_device = 1, v.capacity = d.ref->capacity, v.dtype = to_trt_dtype(d.dtype);
        v.nb_dims = static_cast<int32_t>(d.dims.size());
        for (size_t k = 0; k < d.dims.size() && k < HRSEG_TRT_MAX_DIMS; ++k) v.dims[k] = d.dims[k];
        held->push_back(d.ref);
      } else {
        BorrowedTensor b = borrow_tensor(env, t, names->back().c_str());
        v.data = b.view.data, v.on_device = 0, v.dtype = to_trt_dtype(b.view.dtype);
        v.nb_dims = static_cast<int32_t>(b.view.dims.size());
        for (size_t k = 0; k < b.view.dims.size() && k < HRSEG_TRT_MAX_DIMS; ++k) v.dims[k] = b.view.dims[k];
        keep.push_back(b.keep_alive);
      }
      if (v.nb_dims > HRSEG_TRT_MAX_DIMS)
        throw_error(env, "INVALID_TENSOR", "input '" + names->back() + "' has too many dimensions");
      values->push_back(v);
    }
    // Outputs: every output of the engine, into a given buffer or a new one.
    auto outputs = std::make_shared<std::vector<hrseg_trt_value>>();
    auto out_refs = std::make_shared<std::vector<DeviceRef>>();
    Napi::Object into = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
    for (int32_t i = 0; i < holder->api->io_count(holder->engine); ++i) {
      hrseg_trt_tensor_info t{};
      holder->api->io_info(holder->engine, i, &t);
      if (t.is_input) continue;
      hrseg_trt_value v{};
      v.name = t.name;
      DeviceRef ref;
      if (into.Has(t.name)) {
        ref = device_of(env, into.Get(t.name));
        v.data = ref->ptr, v.capacity = ref->capacity;
      }
      outputs->push_back(v);
      out_refs->push_back(ref);
    }
    return PromiseWorker::Start(
        env,
        [holder, names, values, held, outputs] {
          std::lock_guard<std::mutex> lock(holder->run_mutex);
          char err[4096] = {0};
          check(holder->api->run_device(holder->engine, values->data(), static_cast<int32_t>(values->size()),
                                        outputs->data(), static_cast<int32_t>(outputs->size()), err, sizeof err),
                err);
        },
        [holder, outputs, out_refs](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          for (size_t i = 0; i < outputs->size(); ++i) {
            const hrseg_trt_value& v = (*outputs)[i];
            DeviceRef ref = (*out_refs)[i];
            if (!ref) {  // allocated by the run: owned from here on
              ref = std::make_shared<DeviceBufferRef>();
              ref->api = holder->api, ref->ptr = v.data, ref->capacity = v.capacity;
            }
            out.Set(v.name, device_value_to_js(env, from_trt_dtype(v.dtype), Dims(v.dims, v.dims + v.nb_dims), ref));
          }
          return out;
        },
        keep);
  });
}

// trtDeviceAlloc(bytes, device) → a device buffer (for outputs written in place).
Napi::Value device_alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const hrseg_trt_api& api = require_api();
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0)
      throw_error(env, "INVALID_ARGUMENT", "trtDeviceAlloc: bytes must be ≥ 0");
    auto ref = std::make_shared<DeviceBufferRef>();
    ref->api = &api;
    ref->capacity = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
    ref->device = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    char err[1024] = {0};
    check(api.device_alloc(ref->capacity, ref->device, &ref->ptr, err, sizeof err), err);
    return device_external(env, ref);
  });
}

// trtToHost({ dtype, dims, device }) → Promise<tensor>.
Napi::Value to_host(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw_error(env, "INVALID_ARGUMENT", "trtToHost: a device value is required");
    DeviceView d = device_view(env, info[0].As<Napi::Object>(), "device value");
    auto out = std::make_shared<Tensor>(d.dtype, d.dims);
    return PromiseWorker::Start(
        env,
        [d, out] {
          char err[1024] = {0};
          const size_t bytes = static_cast<size_t>(element_count(d.dims)) * dtype_size(d.dtype);
          check(d.ref->api->device_to_host(d.ref->ptr, out->buffer.data(), bytes, d.ref->device, err, sizeof err), err);
        },
        [out](Napi::Env env) -> Napi::Value { return tensor_to_js(env, std::move(*out)); });
  });
}

// trtDeviceUuid(device) → the GPU's UUID (32 hex digits), recorded in engine sidecars.
Napi::Value device_uuid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const hrseg_trt_api& api = require_api();
    char uuid[40] = {0}, err[512] = {0};
    check(api.device_uuid(info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0, uuid, sizeof uuid, err,
                          sizeof err),
          err);
    return Napi::String::New(env, uuid);
  });
}

// trtRelease({ device }): drops this value's hold on its device buffer now instead of at garbage
// collection (which knows nothing of device memory); work in flight keeps its own hold.
Napi::Value release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsObject()) {
    Napi::Value d = info[0].As<Napi::Object>().Get("device");
    if (d.IsExternal())
      if (DeviceRef* r = d.As<Napi::External<DeviceRef>>().Data()) r->reset();
  }
  return env.Undefined();
}

// trtClose(handle): the engine is freed now, or after the run in flight.
Napi::Value close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsExternal()) {
    HolderRef* ref = info[0].As<Napi::External<HolderRef>>().Data();
    if (ref) ref->reset();
  }
  return env.Undefined();
}

}  // namespace

const void* device_tensor_data(Napi::Env env, Napi::Object value, DType dtype, const Dims& expected, Dims* dims) {
  DeviceView d = device_view(env, value, "device tensor");
  if (d.dtype != dtype) throw_error(env, "INVALID_TENSOR", std::string("device tensor must be ") + dtype_name(dtype));
  if (d.dims.size() != expected.size()) throw_error(env, "INVALID_TENSOR", "device tensor has the wrong rank");
  for (size_t k = 0; k < expected.size(); ++k)
    if (expected[k] >= 0 && d.dims[k] != expected[k])
      throw_error(env, "INVALID_TENSOR", "device tensor has the wrong shape");
  *dims = d.dims;
  // The pointer stays valid while the JS value is reachable; callers keep a reference to it.
  return d.ref->ptr;
}

void register_trt(Napi::Env env, Napi::Object exports) {
  exports.Set("trtBuild", Napi::Function::New(env, build, "trtBuild"));
  exports.Set("trtOpen", Napi::Function::New(env, open, "trtOpen"));
  exports.Set("trtClose", Napi::Function::New(env, close, "trtClose"));
  exports.Set("trtRunDevice", Napi::Function::New(env, run_device, "trtRunDevice"));
  exports.Set("trtDeviceAlloc", Napi::Function::New(env, device_alloc, "trtDeviceAlloc"));
  exports.Set("trtToHost", Napi::Function::New(env, to_host, "trtToHost"));
  exports.Set("trtDeviceUuid", Napi::Function::New(env, device_uuid, "trtDeviceUuid"));
  exports.Set("trtRelease", Napi::Function::New(env, release, "trtRelease"));
}

}  // namespace hrseg::addon
