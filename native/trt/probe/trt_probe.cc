#include "trt_probe.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace hrseg::trt {

ProbeResult probe_tensorrt() noexcept {
  ProbeResult r;
  try {
    std::vector<std::string> candidates;
    if (const char* root = std::getenv("TENSORRT_ROOT")) {
      for (const char* v : {"libnvinfer.so.11", "libnvinfer.so.10", "libnvinfer.so"})
        candidates.push_back(std::string(root) + "/lib/" + v);
    }
    for (const char* v : {"libnvinfer.so.11", "libnvinfer.so.10", "libnvinfer.so"}) candidates.push_back(v);
    std::string last_error;
    for (const auto& name : candidates) {
      void* handle = dlopen(name.c_str(), RTLD_LAZY | RTLD_LOCAL);
      if (!handle) {
        const char* e = dlerror();
        last_error = e ? e : name;
        continue;
      }
      // getInferLibVersion is extern "C" in every TensorRT release since 5: major*10000+minor*100+patch
      // (TensorRT 10 and later keep the same encoding).
      using VersionFn = int (*)();
      auto fn = reinterpret_cast<VersionFn>(dlsym(handle, "getInferLibVersion"));
      if (!fn) {
        r.reason = name + " has no getInferLibVersion symbol: not a TensorRT library";
        dlclose(handle);
        return r;
      }
      int v = fn();
      r.loadable = true;
      r.library = name;
      r.version = std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
      // Keep the library loaded: the engine runner will use it.
      return r;
    }
    r.reason = "libnvinfer (TensorRT 10 or 11) was not found on the library path or under $TENSORRT_ROOT/lib (" +
               last_error + "); install TensorRT and set TENSORRT_ROOT or LD_LIBRARY_PATH";
  } catch (...) {
    r.loadable = false;
    r.reason = "TensorRT probe failed unexpectedly";
  }
  return r;
}

}  // namespace hrseg::trt
