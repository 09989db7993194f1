#include "runtime_info.h"

#include "hrseg/cpu_peaks.h"
#include "hrseg/linear.h"
#include "hrseg/thread_pool.h"
#include "trt_backend.h"
#include "trt_probe.h"
#ifdef HRSEG_WITH_CUDA
#include "hrseg_cuda/device_info.h"
#endif

namespace hrseg::addon {

namespace {

std::string cuda_version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

Napi::Object cuda_info(Napi::Env env) {
  Napi::Object cuda = Napi::Object::New(env);
#ifdef HRSEG_WITH_CUDA
  auto q = hrseg::cuda::query_devices();
  Napi::Array devices = Napi::Array::New(env);
  for (const auto& d : q.devices) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("totalMemoryBytes", static_cast<double>(d.total_memory));
    o.Set("multiprocessors", d.multiprocessors);
    devices.Set(devices.Length(), o);
  }
  cuda.Set("available", !q.devices.empty());
  cuda.Set("devices", devices);
  cuda.Set("driverVersion",
           q.driver_version ? Napi::Value(Napi::String::New(env, cuda_version_string(q.driver_version))) : env.Null());
  cuda.Set("runtimeVersion", cuda_version_string(q.runtime_version));
  cuda.Set("reason", q.reason.empty() ? env.Null() : Napi::Value(Napi::String::New(env, q.reason)));
#else
  cuda.Set("available", false);
  cuda.Set("devices", Napi::Array::New(env));
  cuda.Set("driverVersion", env.Null());
  cuda.Set("runtimeVersion", env.Null());
  cuda.Set("reason", "this binary was built without CUDA (HRSEG_CUDA=OFF or no nvcc at build time)");
#endif
  return cuda;
}

}  // namespace

Napi::Value runtime_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("napiVersion", NAPI_VERSION);

  Napi::Object build = Napi::Object::New(env);
#ifdef HRSEG_WITH_CUDA
  build.Set("cuda", true);
  build.Set("cudaArchitectures", hrseg::cuda::compiled_architectures());
#else
  build.Set("cuda", false);
  build.Set("cudaArchitectures", env.Null());
#endif
#ifdef HRSEG_WITH_TENSORRT
  build.Set("tensorrtHeaders", true);
#else
  build.Set("tensorrtHeaders", false);
#endif
  build.Set("compiler", __VERSION__);
  out.Set("build", build);

  out.Set("cuda", cuda_info(env));

  // A TensorRT layer decides (libhrseg_trt.so loads libnvinfer.so.11, libhrseg_trt10.so
  // libnvinfer.so.10; each refuses other majors). Without one, the probe still says which
  // TensorRT is installed.
  const TrtBackend& backend = trt_backend();
  Napi::Object t = Napi::Object::New(env);
  t.Set("backend",
        backend.backend_path.empty() ? env.Null() : Napi::Value(Napi::String::New(env, backend.backend_path)));
  t.Set("major", backend.major ? Napi::Value(Napi::Number::New(env, backend.major)) : env.Null());
  t.Set("selection", backend.selection);
  if (backend.api) {
    const int32_t v = backend.api->version();
    t.Set("loadable", true);
    t.Set("version", std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100));
    t.Set("library", backend.api->library_path());
    t.Set("reason", env.Null());
    const std::string cannot_build = backend.api->cannot_build();
    t.Set("buildReason", cannot_build.empty() ? env.Null() : Napi::Value(Napi::String::New(env, cannot_build)));
  } else {
    auto probe = hrseg::trt::probe_tensorrt();
    t.Set("loadable", false);
    t.Set("version", probe.loadable ? Napi::Value(Napi::String::New(env, probe.version)) : env.Null());
    t.Set("library", probe.loadable ? Napi::Value(Napi::String::New(env, probe.library)) : env.Null());
    t.Set("reason", backend.reason);
    t.Set("buildReason", backend.reason);
  }
  out.Set("tensorrt", t);

  out.Set("cpuThreads", hrseg::num_threads());
  out.Set("cpuKernel", hrseg::linear_kernel_name());
  out.Set("cpuFeatures", hrseg::cpu_feature_names());
  return out;
}

}  // namespace hrseg::addon
