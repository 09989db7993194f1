#include "trt_backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
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

namespace {

struct Layer {
  int32_t major;
  const char* file;
};
constexpr Layer kLayers[] = {{11, "libhrseg_trt.so"}, {10, "libhrseg_trt10.so"}};

// The layer's table, or "" in `why`. Layers stay open once opened (each holds TensorRT's library
// and a CUDA runtime of its own; nothing is gained by closing them).
const hrseg_trt_api* open_layer(const std::string& path, std::string& why) {
  static std::map<std::string, void*> handles;
  void*& handle = handles[path];
  if (!handle) handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    why = "the TensorRT layer (" + path + ") could not be loaded: " + (e ? e : "unknown error");
    return nullptr;
  }
  auto get = reinterpret_cast<hrseg_trt_get_api_fn>(dlsym(handle, "hrseg_trt_get_api"));
  const hrseg_trt_api* api = get ? get() : nullptr;
  if (!api || api->abi_version != HRSEG_TRT_ABI_VERSION) {
    why = path + " does not match this hrseg.node (C ABI version); reinstall hrseg";
    return nullptr;
  }
  return api;
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
  backend.selection = backend.reason;
  return backend;
#else
  const std::string dir = addon_directory();
  const char* wanted = std::getenv("HRSEG_TENSORRT_MAJOR");
  const std::string want = wanted ? wanted : "";
  if (!want.empty() && want != "10" && want != "11") {
    backend.reason =
        "HRSEG_TENSORRT_MAJOR must be 10 or 11 (the TensorRT major whose layer to use), got '" + want + "'";
    backend.selection = backend.reason;
    return backend;
  }
  const char* root_env = std::getenv("TENSORRT_ROOT");
  const char* root = root_env && *root_env ? root_env : nullptr;
  std::string failures, first_tried;
  for (const Layer& layer : kLayers) {
    const std::string major = std::to_string(layer.major);
    if (!want.empty() && want != major) continue;
    const std::string path = dir + "/" + layer.file;
    std::string why;
    const hrseg_trt_api* api = nullptr;
    const bool built = access(path.c_str(), F_OK) == 0;
    if (!built) {
      why = "this binary has no TensorRT " + major + " layer (" + path + " was not built: no TensorRT " + major +
            " headers at build time)";
    } else if ((api = open_layer(path, why))) {
      char err[2048] = {0};
      if (api->load(root, err, sizeof err) != HRSEG_TRT_OK) {
        why = err;
        api = nullptr;
      }
    }
    if (built && first_tried.empty()) first_tried = path;
    if (api) {
      backend.backend_path = path;
      backend.api = api;
      backend.major = layer.major;
      backend.reason.clear();
      backend.selection =
          (!want.empty() ? "HRSEG_TENSORRT_MAJOR=" + want + " chose"
                         : "libnvinfer.so." + major + " was found and fits" +
                               (failures.empty() ? std::string() : " (" + failures + ")") + ", so hrseg uses") +
          " the TensorRT " + major + " layer (" + layer.file + ")" +
          (want.empty() ? "; the 11 layer is tried before the 10 one, HRSEG_TENSORRT_MAJOR=10|11 chooses" : "");
      return backend;
    }
    failures += (failures.empty() ? "" : "; ") + std::string("TensorRT ") + major + ": " + why;
  }
  backend.backend_path = first_tried;
  backend.major = 0;
  backend.reason = failures;
  backend.selection =
      (!want.empty() ? "HRSEG_TENSORRT_MAJOR=" + want + ": " : std::string("no layer loaded: ")) + failures;
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
