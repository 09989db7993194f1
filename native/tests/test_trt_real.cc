// hrseg's TensorRT layer against the real TensorRT library, on a machine with no GPU and no driver:
// built once per layer (test_trt_real against 11's headers, test_trt10_real against 10's), and run
// against every lean runtime scripts/tensorrt/install-libs.sh pins for that major (11.1 and 11.4;
// 10.16.1), chosen by HRSEG_TENSORRT_LEAN_VERSION. The library is the lean runtime from PyPI: it
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
#include "engineBuilder.h"
#include "engineRunner.h"
#include "nvinferLibrary.h"
#include "trtLogger.h"
#include "../trt/plugin/common/pluginConstants.h"
#include "../trt/plugin/common/pluginRegistry.h"

namespace fs = std::filesystem;
using namespace hrseg::trt;

namespace {

const std::string kMajor = std::to_string(NV_TENSORRT_MAJOR);
const std::string kLean = "libnvinfer_lean.so." + kMajor;
const std::string kNvinfer = "libnvinfer.so." + kMajor;

std::string cache_dir() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  return (cache && *cache ? cache : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache") + "/hrseg";
}

// The wheel's version this run is about ("11.4.0.106"): HRSEG_TENSORRT_LEAN_VERSION, else the one
// pinned for this layer's headers. "" when HRSEG_TENSORRT_LIBS names a folder of unknown version.
std::string lean_version() {
  if (const char* d = std::getenv("HRSEG_TENSORRT_LIBS"); d && *d) return "";
  if (const char* v = std::getenv("HRSEG_TENSORRT_LEAN_VERSION"); v && *v) return v;
  return HRSEG_LEAN_VERSION;
}

std::string libs_dir() {
  if (const char* d = std::getenv("HRSEG_TENSORRT_LIBS"); d && *d) return d;
  return cache_dir() + "/tensorrt-lean-" + lean_version();
}

// A library version this layer must accept: its own major, at or above the layer's floor, and the
// very version the wheel's name says when it is known (getInferLibVersion(): 11.4.0 → 110400).
void check_library_version(int32_t version, int line) {
  if (version / 10000 != NV_TENSORRT_MAJOR || version < kMinimumVersion)
    check::record(__FILE__, line,
                  "version " + std::to_string(version) + " is not a TensorRT " + kMajor + ".x at or above " +
                      std::to_string(kMinimumVersion));
  const std::string wheel = lean_version();
  if (wheel.empty()) return;
  int a = 0, b = 0, c = 0;
  std::sscanf(wheel.c_str(), "%d.%d.%d", &a, &b, &c);
  if (version != (a * 100 + b) * 100 + c)
    check::record(__FILE__, line, "version " + std::to_string(version) + ", the wheel is " + wheel);
}
#define CHECK_LIBRARY_VERSION(v) check_library_version((v), __LINE__)

// The folder holding the real library, or a skip (a failure where CI requires the library).
std::string require_libs(const std::string& dir = libs_dir(), const std::string& lean = kLean) {
  if (fs::exists(dir + "/" + lean)) return dir;
  const char* need = std::getenv("HRSEG_REQUIRE_TENSORRT_LIBS");
  if (need && *need && *need != '0') {
    check::record(__FILE__, __LINE__, "HRSEG_REQUIRE_TENSORRT_LIBS is set but " + dir + "/" + lean + " is missing");
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

// An ILogger whose log() sits one vtable slot late: what a logger built against the other major's
// headers looks like to TensorRT. 11's ILogger is an IVersionedInterface (log() after its slots);
// 10's is a plain class with log() first, and an 11-style logger on a 10.x library loses every
// message the same way (two base-class slots before log()).
#if NV_TENSORRT_MAJOR >= 11
class ShiftedLogger : public nvinfer1::IVersionedInterface {
 public:
  nvinfer1::InterfaceInfo getInterfaceInfo() const noexcept override { return {"ILogger", 1, 0}; }
#else
class ShiftedLogger {
 public:
#endif
  virtual void pad(nvinfer1::ILogger::Severity, const char*) noexcept { ++pad_calls; }
  virtual void log(nvinfer1::ILogger::Severity, const char* msg) noexcept { logged += msg ? msg : ""; }
  // Declared last, so that pad() keeps the slot where TensorRT calls log().
  virtual ~ShiftedLogger() = default;
  int pad_calls = 0;
  std::string logged;
};

}  // namespace

TEST("version gate: the headers' major, at or above the layer's floor (11: the headers' minor; 10: 10.3)") {
#if NV_TENSORRT_MAJOR >= 11
  CHECK(version_refusal(110100, "x").empty());
  CHECK(version_refusal(110205, "x").empty());
  CHECK(version_refusal(110400, "x").empty());
  CHECK(contains(version_refusal(110000, "lib.so"), "older than TensorRT 11.1, the oldest this layer"));
  CHECK(contains(version_refusal(101601, "lib.so"), "is TensorRT 10.16.1"));
  CHECK(contains(version_refusal(101601, "lib.so"), "libhrseg_trt.so, built with TensorRT 11.1 headers"));
  CHECK(contains(version_refusal(101601, "lib.so"), "TensorRT 10 layer is libhrseg_trt10.so"));
  CHECK(contains(version_refusal(120000, "lib.so"), "needs TensorRT 11 (11.1 or a later 11.x)"));
  CHECK_EQ(factory_version(110400), static_cast<int32_t>(NV_TENSORRT_VERSION));
#else
  CHECK(version_refusal(100300, "x").empty());
  CHECK(version_refusal(101601, "x").empty());
  CHECK(version_refusal(101000, "x").empty());
  CHECK(contains(version_refusal(100200, "lib.so"), "older than TensorRT 10.3, the oldest this layer"));
  CHECK(contains(version_refusal(100200, "lib.so"), "libhrseg_trt10.so, built with TensorRT 10.16 headers"));
  CHECK(contains(version_refusal(110100, "lib.so"), "is TensorRT 11.1.0"));
  CHECK(contains(version_refusal(110100, "lib.so"), "needs TensorRT 10 (10.3 or a later 10.x)"));
  CHECK(contains(version_refusal(110100, "lib.so"), "TensorRT 11 layer is libhrseg_trt.so"));
  // A 10.16 build hands a 10.3 library its own version: it promises nothing newer.
  CHECK_EQ(factory_version(100300), 100300);
  CHECK_EQ(factory_version(101601), static_cast<int32_t>(NV_TENSORRT_VERSION));
#endif
}

TEST("the network is strongly typed under both majors (10: kSTRONGLY_TYPED is bit 1; 11: always, flags 0)") {
#if NV_TENSORRT_MAJOR >= 11
  CHECK_EQ(network_creation_flags(), 0u);
#else
  CHECK_EQ(network_creation_flags(), 2u);
#endif
}

TEST("library candidates: $TENSORRT_ROOT/lib, then $TENSORRT_ROOT itself (a wheel's folder), then the loader's path") {
  const auto c = library_candidates(kNvinfer, "/opt/trt/");
  CHECK_EQ(c.size(), size_t(3));
  CHECK_EQ(c[0], "/opt/trt/lib/" + kNvinfer);
  CHECK_EQ(c[1], "/opt/trt/" + kNvinfer);
  CHECK_EQ(c[2], kNvinfer);
  CHECK_EQ(library_candidates(kNvinfer, nullptr).size(), size_t(1));
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
    "the real lean runtime loads through TENSORRT_ROOT alone (a wheel's folder, no lib/): its version and "
    "every runtime entry point") {
  const std::string dir = require_libs();
  const RuntimeLibrary lib = open_runtime_library(kLean, dir.c_str());
  CHECK_LIBRARY_VERSION(lib.version);
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
  CHECK_EQ(run_child("load-library", {}), 0);
}

TEST(
    "the layer's C table over the real runtime (TENSORRT_ROOT/lib/libnvinfer.so.<major> is the lean runtime): loads, "
    "says "
    "it cannot build, and maps a 3 GiB plan before refusing for want of a GPU") {
  const std::string dir = require_libs();
  const fs::path root = fs::temp_directory_path() / ("hrseg-trt-root-" + std::to_string(getpid()));
  fs::create_directories(root / "lib");
  fs::create_symlink(fs::path(dir) / kLean, root / "lib" / kNvinfer);
  CHECK_EQ(run_child("layer", {{"HRSEG_TEST_TENSORRT_ROOT", root.string()}}), 0);
  fs::remove_all(root);
}

TEST(
    "the other major's real library, where this layer looks for its own (TENSORRT_ROOT/lib/libnvinfer.so.<major>), is "
    "refused by its version, the message naming both majors and the layer to use") {
  const std::string other_lean = "libnvinfer_lean.so." + std::to_string(HRSEG_OTHER_MAJOR);
  const std::string other = require_libs(cache_dir() + "/tensorrt-lean-" + HRSEG_OTHER_LEAN_VERSION, other_lean);
  const fs::path root = fs::temp_directory_path() / ("hrseg-trt-other-" + std::to_string(getpid()));
  fs::create_directories(root / "lib");
  fs::create_symlink(fs::path(other) / other_lean, root / "lib" / kNvinfer);
  // A child: the refused library is opened (RTLD_LOCAL) to read its version.
  CHECK_EQ(run_child("other-major", {{"HRSEG_TEST_TENSORRT_ROOT", root.string()}}), 0);
  fs::remove_all(root);
}

// ---- children -----------------------------------------------------------------------------

namespace {

int child_loader_path() {
  const RuntimeLibrary lib = open_runtime_library(kLean, nullptr);
  CHECK_LIBRARY_VERSION(lib.version);
  CHECK_EQ(lib.directory, fs::canonical(std::getenv("LD_LIBRARY_PATH")).string());
  return check::failures_in_case() ? 1 : 0;
}

int child_load_library() {
  const RuntimeLibrary lib = open_runtime_library(kLean, libs_dir().c_str());
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
  CHECK_LIBRARY_VERSION(api->version());
  CHECK_EQ(std::string(api->library_path()), root + "/lib/" + kNvinfer);
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

int child_other_major() {
  void* so = dlopen(HRSEG_TRT_LIB, RTLD_NOW | RTLD_LOCAL);
  auto get = so ? reinterpret_cast<hrseg_trt_get_api_fn>(dlsym(so, "hrseg_trt_get_api")) : nullptr;
  const hrseg_trt_api* api = get ? get() : nullptr;
  CHECK(api != nullptr);
  if (!api) return 1;
  const std::string root = std::getenv("HRSEG_TEST_TENSORRT_ROOT");
  char err[4096] = {0};
  CHECK_EQ(api->load(root.c_str(), err, sizeof err), static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
  const std::string said = err;
  std::fprintf(stderr, "refused: %s\n", err);
  CHECK(contains(said, root + "/lib/" + kNvinfer + " is TensorRT " + std::to_string(HRSEG_OTHER_MAJOR) + "."));
  CHECK(contains(said, "needs TensorRT " + kMajor + " ("));
  CHECK(contains(said, std::string(HRSEG_OTHER_MAJOR == 11 ? "libhrseg_trt.so" : "libhrseg_trt10.so")));
  CHECK_EQ(api->version(), 0);
  // A refused library never joins the global scope, where its symbols would interpose on those of
  // the right one loaded later (the addon then tries the other layer).
  CHECK(dlsym(RTLD_DEFAULT, "createInferRuntime_INTERNAL") == nullptr);
  return check::failures_in_case() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--child") == 0) {
    static const std::map<std::string, std::function<int()>> children = {{"loader-path", child_loader_path},
                                                                         {"load-library", child_load_library},
                                                                         {"layer", child_layer},
                                                                         {"other-major", child_other_major}};
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
