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

// The oldest TensorRT this layer runs on. For 11, the headers' own minor: an 11.x minor release
// appends virtual methods to the interfaces, and an older library lacks what these headers may
// call. For 10, 10.3 (JetPack 6, Jetson Orin): between 10.3 and 10.16 the interfaces' tables only
// grew at their ends, and this layer calls nothing newer than 10.3 except through dlsym
// (setInternalLibraryPath, 10.16), so one build against 10.16's headers runs on every 10.x from 10.3.
constexpr int32_t kMinimumVersion =
    NV_TENSORRT_MAJOR >= 11 ? NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 : 100300;

// The version handed to TensorRT's factories (createInferRuntime_INTERNAL and the rest): the
// headers' own, or the library's when that is older (a 10.16 build on a 10.3 library promises
// nothing newer than 10.3).
int32_t factory_version(int32_t library_version);

// "" when a library reporting `version` may be used by this build, else why not, naming this
// layer. The major must be the headers' (the C++ ABI differs between majors), the version at least
// kMinimumVersion.
std::string version_refusal(int32_t version, const std::string& path);

// Opens a runtime library (`soname`, e.g. libnvinfer.so.11 or libnvinfer_lean.so.11), checks its
// version before calling anything else, and resolves the runtime entry points. Throws
// std::runtime_error naming what is missing. Not cached: for nvinfer_library and tests.
RuntimeLibrary open_runtime_library(const std::string& soname, const char* tensorrt_root);

// libnvinfer.so.<major> (and its builder) and libnvonnxparser.so.<major>, once per process: later calls
// return the first result. hrseg's plugin creators are registered in TensorRT's global registry
// here, once, before any builder or runtime exists. Throws std::runtime_error.
const NvInferLibrary& nvinfer_library(const char* tensorrt_root);
// nullptr until a load succeeded.
const NvInferLibrary* loaded_nvinfer_library() noexcept;

}  // namespace hrseg::trt
