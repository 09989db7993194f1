// hrseg's TensorRT layer against the real TensorRT 11.1 library, on a machine with no GPU and no
// driver. The library is the lean runtime from PyPI (scripts/tensorrt/install-libs.sh): it
// exports the same runtime, global plugin registry and logger entry points as libnvinfer, with the
// same C++ ABI, so what runs here is TensorRT's own code calling hrseg's ILogger, IErrorRecorder and
// plugin creators through their vtables, and hrseg calling TensorRT's. (The full libnvinfer with
// its builder and ONNX parser is not on PyPI as a wheel; README "TensorRT" says what that leaves.)
//
// Cases that need a fresh process (another library path, a registry without hrseg's creators, the
// whole layer through its C table) run this binary again as a child: `test_trt_real --child NAME`.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "backendCommon.h"
#include "check.h"
#include "errorRecorder.h"
#include "hrseg_trt_api.h"
#include "engineRunner.h"
#include "nvinferLibrary.h"
#include "trtLogger.h"
#include "../trt/plugin/common/pluginConstants.h"
#include "../trt/plugin/common/pluginRegistry.h"

namespace fs = std::filesystem;
using namespace hrseg::trt;

namespace {

constexpr const char* kLean = "libnvinfer_lean.so.11";

std::string libs_dir() {
  if (const char* d = std::getenv("HRSEG_TENSORRT_LIBS"); d && *d) return d;
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const std::string base =
      cache && *cache ? cache : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache";
  return base + "/hrseg/tensorrt-lean-11.1.0.106";
}

// The folder holding the real library, or a skip (a failure where CI requires the library).
std::string require_libs() {
  const std::string dir = libs_dir();
  if (fs::exists(dir + "/" + kLean)) return dir;
  const char* need = std::getenv("HRSEG_REQUIRE_TENSORRT_LIBS");
  if (need && *need && *need != '0') {
    check::record(__FILE__, __LINE__, "HRSEG_REQUIRE_TENSORRT_LIBS is set but " + dir + "/" + kLean + " is missing");
    throw check::Skip{"(failed above)"};
  }
  SKIP("TensorRT's real library is not installed at " + dir + " (bash scripts/tensorrt/install-libs.sh)");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs this binary again as `--child name` with extra environment; its exit status (0: passed).
int run_child(const char* name, const std::map<std::string, std::string>& env) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execl("/proc/self/exe", "test_trt_real", "--child", name, static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A file of `bytes` that holds no data (a sparse file): a plan too large for a JS Buffer.
std::string sparse_file(const std::string& name, off_t bytes) {
  const std::string path =
      (fs::temp_directory_path() / ("hrseg-trt-real-" + std::to_string(getpid()) + "-" + name)).string();
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0 || ftruncate(fd, bytes) != 0) check::record(__FILE__, __LINE__, "cannot make " + path);
  if (fd >= 0) ::close(fd);
  return path;
}

nvinfer1::IPluginCreatorV3One* real_creator(nvinfer1::IPluginRegistry& r, const char* name) {
  return static_cast<nvinfer1::IPluginCreatorV3One*>(r.getCreator(name, plugin::kVersion, plugin::kNamespace));
}

// A creator whose vtable puts getPluginVersion where IPluginCreatorV3One has getPluginName: what a
// header mismatch or a wrong declaration order would give. The registry reads its name and version
// through the vtable, so it files this one under the wrong name.
class SwappedCreator : public nvinfer1::IVersionedInterface {
 public:
  nvinfer1::InterfaceInfo getInterfaceInfo() const noexcept override { return {"PLUGIN CREATOR_V3ONE", 1, 0}; }
  virtual nvinfer1::IPluginV3* createPlugin(const char*, const nvinfer1::PluginFieldCollection*,
                                            nvinfer1::TensorRTPhase) noexcept {
    return nullptr;
  }
  virtual const nvinfer1::PluginFieldCollection* getFieldNames() noexcept { return &fields_; }
  virtual const char* getPluginVersion() const noexcept { return "1"; }
  virtual const char* getPluginName() const noexcept { return "SwappedProbe"; }
  virtual const char* getPluginNamespace() const noexcept { return "hrseg-abi-probe"; }

 private:
  nvinfer1::PluginFieldCollection fields_{0, nullptr};
};

// An ILogger whose log() sits one vtable slot late, behind an extra virtual (TensorRT 11's ILogger
// is an IVersionedInterface, log() after its four slots): what a logger built against other
// headers would look like to TensorRT.
class ShiftedLogger : public nvinfer1::IVersionedInterface {
 public:
  nvinfer1::InterfaceInfo getInterfaceInfo() const noexcept override { return {"ILogger", 1, 0}; }
  virtual void pad(nvinfer1::ILogger::Severity, const char*) noexcept { ++pad_calls; }
  virtual void log(nvinfer1::ILogger::Severity, const char* msg) noexcept { logged += msg ? msg : ""; }
  int pad_calls = 0;
  std::string logged;
};

}  // namespace

TEST("version gate: the headers' major, and a minor no older than the headers'") {
  CHECK(version_refusal(110100, "x").empty());
  CHECK(version_refusal(110205, "x").empty());
  CHECK(contains(version_refusal(110000, "lib.so"), "older than the TensorRT 11.1 headers"));
  CHECK(contains(version_refusal(100300, "lib.so"), "is TensorRT 10.3.0"));
  CHECK(contains(version_refusal(120000, "lib.so"), "needs TensorRT 11"));
}

TEST("library candidates: $TENSORRT_ROOT/lib, then $TENSORRT_ROOT itself (a wheel's folder), then the loader's path") {
  const auto c = library_candidates("libnvinfer.so.11", "/opt/trt/");
  CHECK_EQ(c.size(), size_t(3));
  CHECK_EQ(c[0], std::string("/opt/trt/lib/libnvinfer.so.11"));
  CHECK_EQ(c[1], std::string("/opt/trt/libnvinfer.so.11"));
  CHECK_EQ(c[2], std::string("libnvinfer.so.11"));
  CHECK_EQ(library_candidates("libnvinfer.so.11", nullptr).size(), size_t(1));
}

TEST(
    "a plan file is mapped, not read: 3 GiB (past a JS Buffer's 2 GiB) maps; missing, empty and folder plans are "
    "refused") {
  const std::string big = sparse_file("big.plan", off_t(3) << 30);
  {
    const auto plan = map_plan(big);
    CHECK_EQ(plan->size(), size_t(3) << 30);
    CHECK_EQ(plan->data()[plan->size() - 1], 0);
  }
  fs::remove(big);
  const std::string empty = sparse_file("empty.plan", 0);
  try {
    map_plan(empty);
    check::record(__FILE__, __LINE__, "an empty plan was accepted");
  } catch (const Failure& f) {
    CHECK_EQ(f.status, static_cast<int32_t>(HRSEG_TRT_IO));
    CHECK(contains(f.what(), "is empty"));
  }
  fs::remove(empty);
  CHECK_THROWS(Failure, map_plan("/nonexistent/x.plan"));
  CHECK_THROWS(Failure, map_plan(fs::temp_directory_path().string()));
}

TEST(
    "the real libnvinfer_lean.so.11 loads through TENSORRT_ROOT alone (a wheel's folder, no lib/): its version and "
    "every runtime entry point") {
  const std::string dir = require_libs();
  const RuntimeLibrary lib = open_runtime_library(kLean, dir.c_str());
  CHECK_EQ(lib.version, 110100);
  CHECK_EQ(lib.directory, fs::canonical(dir).string());
  CHECK(lib.create_runtime != nullptr);
  CHECK(lib.plugin_registry != nullptr && lib.plugin_registry() != nullptr);
}

TEST("the real library loads through the loader's search path (LD_LIBRARY_PATH, no TENSORRT_ROOT)") {
  const std::string dir = require_libs();
  CHECK_EQ(run_child("loader-path", {{"LD_LIBRARY_PATH", dir}, {"TENSORRT_ROOT", ""}}), 0);
}

TEST("a runtime without a GPU: DEVICE_UNAVAILABLE carrying TensorRT's own log line, received through hrseg's ILogger") {
  const RuntimeLibrary lib = open_runtime_library(kLean, require_libs().c_str());
  const uint64_t mark = process_logger().mark();
  try {
    nvinfer1::IRuntime* r = create_runtime(lib);
    delete r;
    check::record(__FILE__, __LINE__, "a runtime was created on a machine without a GPU");
  } catch (const Failure& f) {
    CHECK_EQ(f.status, static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
    CHECK(contains(f.what(), "could not create a runtime"));
    CHECK(contains(f.what(), "CUDA initialization failure"));
  }
  // The line came through hrseg's ILogger::log, on this thread.
  CHECK(contains(process_logger().since(mark, true), "createInferRuntime"));
}

TEST("the logger check sees the ABI: a logger with log() one slot late never receives TensorRT's line") {
  const RuntimeLibrary lib = open_runtime_library(kLean, require_libs().c_str());
  ShiftedLogger shifted;
  lib.create_runtime(&shifted, NV_TENSORRT_VERSION);  // fails without a GPU; the pointer is not used
  CHECK(shifted.pad_calls > 0);
  CHECK(shifted.logged.empty());
}

TEST(
    "hrseg's creators in the real global registry: found by name, version and namespace, as seven builds in one "
    "process would look them up") {
  const RuntimeLibrary lib = open_runtime_library(kLean, require_libs().c_str());
  nvinfer1::IPluginRegistry& registry = *lib.plugin_registry();
  int32_t n = 0;
  nvinfer1::IPluginCreatorInterface* const* ours = plugin::plugin_creators(n);
  for (int build = 0; build < 7; ++build) {
    register_plugins(registry);  // what every build and every open does: once per process in effect
    CHECK(real_creator(registry, plugin::kRegionAttentionName) == ours[0]);
    CHECK(real_creator(registry, plugin::kMaskPoolingName) == ours[1]);
  }
  CHECK(registry.getCreator(plugin::kMaskPoolingName, "2", plugin::kNamespace) == nullptr);
  CHECK(registry.getCreator(plugin::kMaskPoolingName, plugin::kVersion, "") == nullptr);
  // A plugin made through the creator the registry returns, as the ONNX parser makes it.
  nvinfer1::IPluginCreatorV3One* creator = real_creator(registry, plugin::kMaskPoolingName);
  int32_t P = 64;
  nvinfer1::PluginField f{"pool_size", &P, nvinfer1::PluginFieldType::kINT32, 1};
  nvinfer1::PluginFieldCollection fc{1, &f};
  nvinfer1::IPluginV3* p = creator->createPlugin("pool", &fc, nvinfer1::TensorRTPhase::kBUILD);
  CHECK(p != nullptr);
  if (p) {
    auto* core =
        static_cast<nvinfer1::IPluginV3OneCore*>(p->getCapabilityInterface(nvinfer1::PluginCapabilityType::kCORE));
    CHECK_EQ(std::string(core->getPluginName()), std::string(plugin::kMaskPoolingName));
    delete p;
  }
}

TEST("the lookup sees the ABI: a creator with a swapped vtable is filed under its version, not its name") {
  const RuntimeLibrary lib = open_runtime_library(kLean, require_libs().c_str());
  nvinfer1::IPluginRegistry& registry = *lib.plugin_registry();
  static SwappedCreator swapped;
  // Passed as TensorRT's interface, as a mismatched build would: same object, another layout.
  void* raw = &swapped;
  auto& as_creator = *static_cast<nvinfer1::IPluginCreatorInterface*>(raw);
  CHECK(registry.registerCreator(as_creator, "hrseg-abi-probe"));
  CHECK(registry.getCreator("SwappedProbe", "1", "hrseg-abi-probe") == nullptr);
  CHECK(registry.getCreator("1", "SwappedProbe", "hrseg-abi-probe") == &as_creator);
  CHECK(registry.deregisterCreator(as_creator));
}

TEST(
    "IErrorRecorder: the real registry reports a failed loadLibrary into hrseg's recorder, with TensorRT's code and "
    "words") {
  const RuntimeLibrary lib = open_runtime_library(kLean, require_libs().c_str());
  nvinfer1::IPluginRegistry& registry = *lib.plugin_registry();
  nvinfer1::IErrorRecorder& recorder = process_error_recorder();
  registry.setErrorRecorder(&recorder);
  CHECK(registry.getErrorRecorder() == &recorder);
  recorder.clear();
  const uint64_t mark = process_logger().mark();
  CHECK(registry.loadLibrary("/nonexistent/libnothing.so") == nullptr);
  CHECK(recorder.getNbErrors() >= 1);
  if (recorder.getNbErrors() >= 1) {
    CHECK(recorder.getErrorCode(0) == nvinfer1::ErrorCode::kFAILED_INITIALIZATION);
    CHECK(contains(recorder.getErrorDesc(0), "Unable to load library"));
  }
  CHECK(process_logger().reported(mark, nvinfer1::ErrorCode::kFAILED_INITIALIZATION));
  CHECK(contains(process_logger().since(mark), "/nonexistent/libnothing.so"));
  CHECK(!process_logger().reported(mark, nvinfer1::ErrorCode::kFAILED_ALLOCATION));
  registry.setErrorRecorder(nullptr);
}

TEST(
    "libhrseg_trt_plugins.so through the real registry's loadLibrary: its entry points called, its creators found and "
    "usable") {
  const std::string dir = require_libs();
  CHECK_EQ(run_child("load-library", {{"HRSEG_TENSORRT_LIBS", dir}}), 0);
}

TEST(
    "the layer's C table over the real runtime (TENSORRT_ROOT/lib/libnvinfer.so.11 is the lean runtime): loads, says "
    "it cannot build, and maps a 3 GiB plan before refusing for want of a GPU") {
  const std::string dir = require_libs();
  const fs::path root = fs::temp_directory_path() / ("hrseg-trt-root-" + std::to_string(getpid()));
  fs::create_directories(root / "lib");
  fs::create_symlink(fs::path(dir) / kLean, root / "lib" / "libnvinfer.so.11");
  CHECK_EQ(run_child("layer", {{"HRSEG_TEST_TENSORRT_ROOT", root.string()}}), 0);
  fs::remove_all(root);
}

// ---- children -----------------------------------------------------------------------------

namespace {

int child_loader_path() {
  const RuntimeLibrary lib = open_runtime_library(kLean, nullptr);
  CHECK_EQ(lib.version, 110100);
  CHECK_EQ(lib.directory, fs::canonical(std::getenv("LD_LIBRARY_PATH")).string());
  return check::failures_in_case() ? 1 : 0;
}

int child_load_library() {
  const RuntimeLibrary lib = open_runtime_library(kLean, std::getenv("HRSEG_TENSORRT_LIBS"));
  nvinfer1::IPluginRegistry& registry = *lib.plugin_registry();
  CHECK(real_creator(registry, plugin::kMaskPoolingName) == nullptr);  // nothing registered yet
  auto handle = registry.loadLibrary(HRSEG_TRT_PLUGINS_LIB);
  CHECK(handle != nullptr);
  int32_t n = 0;
  nvinfer1::IPluginCreatorInterface* const* statics = plugin::plugin_creators(n);
  for (const char* name : {plugin::kRegionAttentionName, plugin::kMaskPoolingName}) {
    nvinfer1::IPluginCreatorV3One* c = real_creator(registry, name);
    CHECK(c != nullptr);
    if (!c) continue;
    CHECK(c != statics[0] && c != statics[1]);  // the library's own creators, not this binary's
    CHECK_EQ(std::string(c->getPluginName()), std::string(name));
    // A bad field fails in the library and is logged through the ILoggerFinder TensorRT gave it.
    int32_t bad = 0;
    nvinfer1::PluginField f{std::string(name) == plugin::kMaskPoolingName ? "pool_size" : "magnification", &bad,
                            nvinfer1::PluginFieldType::kINT32, 1};
    nvinfer1::PluginFieldCollection fc{1, &f};
    CHECK(c->createPlugin("bad", &fc, nvinfer1::TensorRTPhase::kBUILD) == nullptr);
  }
  if (handle) registry.deregisterLibrary(handle);
  CHECK(real_creator(registry, plugin::kMaskPoolingName) == nullptr);
  return check::failures_in_case() ? 1 : 0;
}

int child_layer() {
  void* so = dlopen(HRSEG_TRT_LIB, RTLD_NOW | RTLD_LOCAL);
  CHECK(so != nullptr);
  if (!so) return 1;
  auto get = reinterpret_cast<hrseg_trt_get_api_fn>(dlsym(so, "hrseg_trt_get_api"));
  const hrseg_trt_api* api = get ? get() : nullptr;
  CHECK(api != nullptr);
  if (!api) return 1;
  const std::string root = std::getenv("HRSEG_TEST_TENSORRT_ROOT");
  char err[4096] = {0};
  CHECK_EQ(api->load(root.c_str(), err, sizeof err), static_cast<int32_t>(HRSEG_TRT_OK));
  if (*err) std::fprintf(stderr, "load: %s\n", err);
  CHECK_EQ(api->version(), 110100);
  CHECK_EQ(std::string(api->library_path()), root + "/lib/libnvinfer.so.11");
  CHECK(contains(api->cannot_build(), "createInferBuilder_INTERNAL"));
  hrseg_trt_build_options o{};
  o.onnx_path = "x.onnx";
  o.plan_path = "x.plan";
  CHECK_EQ(api->build(&o, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
  CHECK(contains(err, "cannot build"));
  const std::string plan = sparse_file("layer.plan", off_t(3) << 30);
  hrseg_trt_engine* engine = nullptr;
  const int32_t s = api->open(plan.c_str(), 0, &engine, err, sizeof err);
  // Mapped, then refused at the device (chosen before TensorRT starts CUDA on it).
  CHECK_EQ(s, static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
  CHECK(engine == nullptr);
  CHECK(contains(err, "no CUDA device"));
  if (s != HRSEG_TRT_UNAVAILABLE) std::fprintf(stderr, "open: %s\n", err);
  fs::remove(plan);
  CHECK_EQ(api->open("/nonexistent/x.plan", 0, &engine, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_IO));
  return check::failures_in_case() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--child") == 0) {
    static const std::map<std::string, std::function<int()>> children = {
        {"loader-path", child_loader_path}, {"load-library", child_load_library}, {"layer", child_layer}};
    const auto it = children.find(argv[2]);
    if (it == children.end()) return 2;
    try {
      return it->second();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %s: %s\n", argv[2], e.what());
      return 1;
    }
  }
  return check::run_all();
}
