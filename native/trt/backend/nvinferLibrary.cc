#include "nvinferLibrary.h"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>
#include <vector>

namespace hrseg::trt {

namespace {

std::mutex g_mutex;
NvInferLibrary g_library;
bool g_loaded = false;

// A library from $TENSORRT_ROOT/lib first (the SDK tarball layout), then the loader's search path.
void* open_first(const std::string& soname, const char* root, std::string& opened, std::string& errors) {
  std::vector<std::string> candidates;
  if (root && *root) candidates.push_back(std::string(root) + "/lib/" + soname);
  candidates.push_back(soname);
  for (const std::string& c : candidates) {
    // RTLD_GLOBAL: the ONNX parser resolves libnvinfer's symbols against the copy opened here.
    if (void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      opened = c;
      return h;
    }
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e ? e : c);
  }
  return nullptr;
}

template <typename F>
F symbol(void* handle, const char* name, const std::string& library) {
  void* s = dlsym(handle, name);
  if (!s) throw std::runtime_error(library + " has no symbol " + name + ": not a TensorRT 11 library");
  return reinterpret_cast<F>(s);
}

}  // namespace

const NvInferLibrary& nvinfer_library(const char* tensorrt_root) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loaded) return g_library;
  const std::string want = "libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR);
  std::string opened, errors;
  void* infer = open_first(want, tensorrt_root, opened, errors);
  if (!infer)
    throw std::runtime_error(want + " (TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                             ") was not found: install TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                             " and set TENSORRT_ROOT (or LD_LIBRARY_PATH) to it (" + errors + ")");
  NvInferLibrary lib;
  lib.path = opened;
  auto version = symbol<int32_t (*)()>(infer, "getInferLibVersion", opened);
  lib.version = version();
  if (lib.version / 10000 != NV_TENSORRT_MAJOR) {
    // Same soname, other major: the C++ ABI (ILogger, vtables) differs, so nothing may be called.
    dlclose(infer);
    throw std::runtime_error(opened + " is TensorRT " + std::to_string(lib.version / 10000) + "." +
                             std::to_string(lib.version / 100 % 100) + "; this build of hrseg needs TensorRT " +
                             std::to_string(NV_TENSORRT_MAJOR));
  }
  lib.create_builder = symbol<void* (*)(void*, int32_t)>(infer, "createInferBuilder_INTERNAL", opened);
  lib.create_runtime = symbol<void* (*)(void*, int32_t)>(infer, "createInferRuntime_INTERNAL", opened);
  const std::string parser_name = "libnvonnxparser.so." + std::to_string(NV_TENSORRT_MAJOR);
  std::string parser_opened, parser_errors;
  void* parser = open_first(parser_name, tensorrt_root, parser_opened, parser_errors);
  if (!parser)
    throw std::runtime_error(parser_name + " (TensorRT's ONNX parser) was not found beside " + opened + " (" +
                             parser_errors + ")");
  lib.create_parser = symbol<void* (*)(void*, void*, int)>(parser, "createNvOnnxParser_INTERNAL", parser_opened);
  g_library = lib;
  g_loaded = true;
  return g_library;
}

const NvInferLibrary* loaded_nvinfer_library() noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_loaded ? &g_library : nullptr;
}

}  // namespace hrseg::trt
