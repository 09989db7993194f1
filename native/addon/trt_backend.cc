#include "trt_backend.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace hrseg::addon {

namespace {

std::string addon_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&addon_directory), &info) && info.dli_fname) {
    std::string path = info.dli_fname;
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
  }
  return ".";
}

}  // namespace

const TrtBackend& trt_backend() {
  static std::mutex mutex;
  static TrtBackend backend;
  std::lock_guard<std::mutex> lock(mutex);
  if (backend.api) return backend;
#ifndef HRSEG_WITH_TENSORRT
  backend.reason =
      "this binary was built without the TensorRT layer (no TensorRT headers at build time; set TENSORRT_ROOT and "
      "rebuild)";
  return backend;
#else
  backend.backend_path = addon_directory() + "/libhrseg_trt.so";
  static void* handle = nullptr;
  if (!handle) handle = dlopen(backend.backend_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    backend.reason =
        "the TensorRT layer (" + backend.backend_path + ") could not be loaded: " + (e ? e : "unknown error");
    return backend;
  }
  auto get = reinterpret_cast<hrseg_trt_get_api_fn>(dlsym(handle, "hrseg_trt_get_api"));
  const hrseg_trt_api* api = get ? get() : nullptr;
  if (!api || api->abi_version != HRSEG_TRT_ABI_VERSION) {
    backend.reason = backend.backend_path + " does not match this hrseg.node (C ABI version); reinstall hrseg";
    return backend;
  }
  char err[2048] = {0};
  const char* root = std::getenv("TENSORRT_ROOT");
  if (api->load(root && *root ? root : nullptr, err, sizeof err) != HRSEG_TRT_OK) {
    backend.reason = err;
    return backend;
  }
  backend.api = api;
  backend.reason.clear();
  return backend;
#endif
}

const char* trt_status_code(int32_t status) {
  switch (status) {
    case HRSEG_TRT_UNAVAILABLE:
      return "DEVICE_UNAVAILABLE";
    case HRSEG_TRT_INVALID:
      return "INVALID_ARGUMENT";
    case HRSEG_TRT_BUILD_FAILED:
      return "ENGINE_BUILD_FAILED";
    case HRSEG_TRT_OUT_OF_MEMORY:
      return "OUT_OF_MEMORY";
    case HRSEG_TRT_IO:
      return "MODEL_FILE";
    case HRSEG_TRT_CANCELLED:
      return "ABORTED";
    default:
      return "INTERNAL";
  }
}

}  // namespace hrseg::addon
