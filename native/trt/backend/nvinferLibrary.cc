#include "nvinferLibrary.h"

#include <dlfcn.h>
#include <link.h>

#include <mutex>
#include <stdexcept>

#include "backendCommon.h"

namespace hrseg::trt {

namespace {

std::mutex g_mutex;
NvInferLibrary g_library;
bool g_loaded = false;

std::string version_text(int32_t v) {
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// The file the loader actually mapped (the soname alone says nothing about where it was found).
std::string resolved_path(void* handle, const std::string& fallback) {
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name) return map->l_name;
  return fallback;
}

// RTLD_LOCAL: a library is only promoted to the global scope (promote_global) once its version
// passed; a refused one (another major, which the addon may meet before the right one) never
// interposes its symbols on those of a TensorRT loaded later.
void* open_first(const std::vector<std::string>& candidates, std::string& opened, std::string& errors,
                 int mode = RTLD_NOW | RTLD_LOCAL) {
  for (const std::string& c : candidates) {
    if (void* h = dlopen(c.c_str(), mode)) {
      opened = resolved_path(h, c);
      return h;
    }
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e ? e : c);
  }
  return nullptr;
}

template <typename F>
F symbol(void* handle, const char* name, const std::string& library, const char* why) {
  void* s = dlsym(handle, name);
  if (!s) throw std::runtime_error(library + " has no symbol " + name + why);
  return reinterpret_cast<F>(s);
}

constexpr const char* kNotTensorRT = ": not a TensorRT runtime library";

}  // namespace

std::vector<std::string> library_candidates(const std::string& soname, const char* root) {
  std::vector<std::string> candidates;
  if (root && *root) {
    std::string r(root);
    while (r.size() > 1 && r.back() == '/') r.pop_back();
    candidates.push_back(r + "/lib/" + soname);
    candidates.push_back(r + "/" + soname);
  }
  candidates.push_back(soname);
  return candidates;
}

int32_t factory_version(int32_t library_version) {
  return library_version > 0 && library_version < NV_TENSORRT_VERSION ? library_version : NV_TENSORRT_VERSION;
}

std::string version_refusal(int32_t version, const std::string& path) {
  const int32_t major = version / 10000;
  const std::string floor = std::to_string(kMinimumVersion / 10000) + "." + std::to_string(kMinimumVersion / 100 % 100);
  const std::string layer = std::string("this layer of hrseg (") + HRSEG_TRT_LAYER_FILE + ", built with TensorRT " +
                            std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + " headers)";
  if (major != NV_TENSORRT_MAJOR)
    return path + " is TensorRT " + version_text(version) + "; " + layer + " needs TensorRT " +
           std::to_string(NV_TENSORRT_MAJOR) + " (" + floor + " or a later " + std::to_string(NV_TENSORRT_MAJOR) +
           ".x)" +
           (major == 10 || major == 11 ? "; hrseg's TensorRT " + std::to_string(major) + " layer is " +
                                             (major == 11 ? "libhrseg_trt.so" : "libhrseg_trt10.so")
                                       : std::string());
  if (version < kMinimumVersion)
    return path + " is TensorRT " + version_text(version) + ", older than TensorRT " + floor + ", the oldest " + layer +
           " runs on; install TensorRT " + floor + " or later";
  return "";
}

RuntimeLibrary open_runtime_library(const std::string& soname, const char* root) {
  std::string opened, errors;
  void* handle = open_first(library_candidates(soname, root), opened, errors);
  if (!handle)
    throw std::runtime_error(soname + " (TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                             ") was not found: install TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                             " and set TENSORRT_ROOT (or LD_LIBRARY_PATH) to it (" + errors + ")");
  RuntimeLibrary lib;
  lib.path = opened;
  lib.directory = folder_of(opened);
  try {
    lib.version = symbol<int32_t (*)()>(handle, "getInferLibVersion", opened, kNotTensorRT)();
    // Same soname, another release: nothing else may be called (the C++ ABI may differ).
    const std::string refusal = version_refusal(lib.version, opened);
    if (!refusal.empty()) throw std::runtime_error(refusal);
    lib.create_runtime = symbol<void* (*)(void*, int32_t)>(handle, "createInferRuntime_INTERNAL", opened, kNotTensorRT);
    lib.plugin_registry = symbol<nvinfer1::IPluginRegistry* (*)()>(handle, "getPluginRegistry", opened, kNotTensorRT);
    // RTLD_GLOBAL now: libnvonnxparser and TensorRT's internal libraries resolve libnvinfer's
    // symbols against the copy opened here.
    if (!dlopen(opened.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
      const char* e = dlerror();
      throw std::runtime_error(opened + " could not be made global: " + (e ? e : "unknown error"));
    }
  } catch (...) {
    dlclose(handle);
    throw;
  }
  return lib;
}

const NvInferLibrary& nvinfer_library(const char* root) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loaded) return g_library;
  const std::string major = std::to_string(NV_TENSORRT_MAJOR);
  NvInferLibrary lib;
  static_cast<RuntimeLibrary&>(lib) = open_runtime_library("libnvinfer.so." + major, root);
  // The handle stays open for the life of the process (the plugins are registered in it).
  void* infer = dlopen(lib.path.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  lib.create_builder = reinterpret_cast<void* (*)(void*, int32_t)>(dlsym(infer, "createInferBuilder_INTERNAL"));
  if (!lib.create_builder) {
    lib.cannot_build =
        lib.path +
        " has no builder (createInferBuilder_INTERNAL): a lean or dispatch runtime runs plans but cannot "
        "build them; install the full TensorRT " +
        major + " to build engines";
  } else {
    // TensorRT loads its builder resources (libnvinfer_builder_resource*.so) by name when the first
    // builder runs; without this they are found only when LD_LIBRARY_PATH names the folder, so
    // TENSORRT_ROOT alone would fail at the first build (NvInfer.h: setInternalLibraryPath, 10.16+ and
    // 11.1+; older 10.x libraries find them only through LD_LIBRARY_PATH).
    if (auto set_path = reinterpret_cast<bool (*)(const char*)>(dlsym(infer, "setInternalLibraryPath")))
      if (!lib.directory.empty()) set_path((lib.directory + "/").c_str());
    const std::string parser_name = "libnvonnxparser.so." + major;
    std::vector<std::string> candidates;
    if (!lib.directory.empty()) candidates.push_back(lib.directory + "/" + parser_name);
    candidates.push_back(parser_name);
    std::string errors;
    void* parser = open_first(candidates, lib.parser_path, errors, RTLD_NOW | RTLD_GLOBAL);
    if (!parser) {
      lib.cannot_build =
          parser_name + " (TensorRT's ONNX parser) was not found beside " + lib.path + " (" + errors + ")";
    } else {
      // A parser that does not fit only stops builds: running plans needs none of it.
      auto parser_version = reinterpret_cast<int (*)()>(dlsym(parser, "getNvOnnxParserVersion"));
      auto create_parser = reinterpret_cast<void* (*)(void*, void*, int)>(dlsym(parser, "createNvOnnxParser_INTERNAL"));
      lib.parser_version = parser_version ? parser_version() : 0;
      // The parser has its own version (NvOnnxParser.h: NV_ONNX_PARSER_VERSION, 0.1.0 with TensorRT
      // 11.1), checked the way the runtime's is.
      if (!parser_version || !create_parser) {
        lib.cannot_build = lib.parser_path +
                           " is not TensorRT's ONNX parser (no getNvOnnxParserVersion / createNvOnnxParser_INTERNAL)";
      } else if (lib.parser_version / 10000 != NV_ONNX_PARSER_MAJOR ||
                 lib.parser_version / 100 % 100 < NV_ONNX_PARSER_MINOR) {
        lib.cannot_build = lib.parser_path + " is ONNX parser " + version_text(lib.parser_version) +
                           "; hrseg was built with " + version_text(NV_ONNX_PARSER_VERSION) + " (TensorRT " + major +
                           "." + std::to_string(NV_TENSORRT_MINOR) +
                           "): use the parser of the same TensorRT release as " + lib.path;
      } else {
        lib.create_parser = create_parser;
      }
      if (!lib.create_parser) dlclose(parser);
    }
  }
  register_plugins(*lib.plugin_registry());
  g_library = lib;
  g_loaded = true;
  return g_library;
}

const NvInferLibrary* loaded_nvinfer_library() noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_loaded ? &g_library : nullptr;
}

}  // namespace hrseg::trt
