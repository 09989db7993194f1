// TensorRT's libraries, opened at run time. Nothing here links against TensorRT: every entry point
// is found by dlsym, so libhrseg_trt.so loads (and says why not) on a machine without TensorRT, and
// never runs TensorRT's static plugin registration.
//
// Where the files are looked for, in order: $TENSORRT_ROOT/lib (the SDK tarball), $TENSORRT_ROOT
// itself (a pip wheel's folder, e.g. site-packages/tensorrt_libs), then the loader's search path
// (LD_LIBRARY_PATH, ldconfig). The ONNX parser is taken from the folder libnvinfer came from, so
// the two always belong to one release.
#pragma once
#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <string>
#include <vector>

namespace hrseg::trt {

// What every TensorRT runtime library exports: libnvinfer and the lean and dispatch runtimes alike
// (NvInferRuntime.h: createInferRuntime_INTERNAL, getPluginRegistry;
// NvInferRuntimeBase.h: getInferLibVersion).
struct RuntimeLibrary {
  std::string path;       // the file that was opened
  std::string directory;  // its folder (resolved when the loader found it)
  int32_t version = 0;    // getInferLibVersion(): (major * 100 + minor) * 100 + patch
  void* (*create_runtime)(void* logger, int32_t version) = nullptr;
  nvinfer1::IPluginRegistry* (*plugin_registry)() = nullptr;  // the global registry
};

// libnvinfer with its builder, and the ONNX parser beside it. Running plans needs the runtime
// only: when the builder or the parser is missing, loading still succeeds, and a build says why
// it cannot run (`cannot_build`).
struct NvInferLibrary : RuntimeLibrary {
  std::string parser_path;
  int32_t parser_version = 0;
  void* (*create_builder)(void* logger, int32_t version) = nullptr;
  void* (*create_parser)(void* network, void* logger, int version) = nullptr;
  std::string cannot_build;  // "" when both are there
};

// The files tried for `soname`, in order.
std::vector<std::string> library_candidates(const std::string& soname, const char* tensorrt_root);

// "" when a library reporting `version` may be used by this build, else why not. The major must be
// the headers' (the C++ ABI differs between majors), and the minor at least the headers' (a minor
// release appends virtual methods to the interfaces: an older library lacks what these headers
// may call).
std::string version_refusal(int32_t version, const std::string& path);

// Opens a runtime library (`soname`, e.g. libnvinfer.so.11 or libnvinfer_lean.so.11), checks its
// version before calling anything else, and resolves the runtime entry points. Throws
// std::runtime_error naming what is missing. Not cached: for nvinfer_library and tests.
RuntimeLibrary open_runtime_library(const std::string& soname, const char* tensorrt_root);

// libnvinfer.so.11 (and its builder) and libnvonnxparser.so.11, once per process: later calls
// return the first result. hrseg's plugin creators are registered in TensorRT's global registry
// here, once, before any builder or runtime exists. Throws std::runtime_error.
const NvInferLibrary& nvinfer_library(const char* tensorrt_root);
// nullptr until a load succeeded.
const NvInferLibrary* loaded_nvinfer_library() noexcept;

}  // namespace hrseg::trt
