// A TensorRT layer (libhrseg_trt.so for 11, libhrseg_trt10.so for 10: this file is built once per
// layer, against its headers) through its C table, on a machine without TensorRT: it loads, and
// every entry reports why it cannot work instead of crashing.
#include <NvInferVersion.h>
#include <dlfcn.h>

#include <string>

#include "check.h"
#include "hrseg_trt_api.h"

namespace {

const hrseg_trt_api* api() {
  static const hrseg_trt_api* table = [] {
    void* lib = dlopen(HRSEG_TRT_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return static_cast<const hrseg_trt_api*>(nullptr);
    auto get = reinterpret_cast<hrseg_trt_get_api_fn>(dlsym(lib, "hrseg_trt_get_api"));
    return get ? get() : nullptr;
  }();
  return table;
}

bool contains(const char* s, const char* part) { return std::string(s).find(part) != std::string::npos; }

}  // namespace

TEST("the layer loads without TensorRT and exposes its table") {
  CHECK(api() != nullptr);
  if (!api()) return;
  CHECK_EQ(api()->abi_version, HRSEG_TRT_ABI_VERSION);
  CHECK_EQ(api()->version(), 0);
  CHECK_EQ(std::string(api()->library_path()), std::string(""));
}

const std::string kMajor = std::to_string(NV_TENSORRT_MAJOR);
const std::string kNvinfer = "libnvinfer.so." + kMajor;

TEST("a missing TensorRT is UNAVAILABLE, naming libnvinfer.so.<major> and TENSORRT_ROOT") {
  if (!api()) SKIP("the layer did not load");
  char err[2048] = {0};
  const int32_t s = api()->load("/nonexistent-tensorrt-root", err, sizeof err);
  CHECK_EQ(s, static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
  CHECK(contains(err, kNvinfer.c_str()));
  CHECK(contains(err, "TENSORRT_ROOT"));
  CHECK(contains(err, ("/nonexistent-tensorrt-root/lib/" + kNvinfer).c_str()));
}

TEST("a libnvinfer of another major version is refused by its version, before any other call") {
  if (!api()) SKIP("the layer did not load");
  char err[2048] = {0};
  const int32_t s = api()->load(HRSEG_FAKE_TENSORRT_ROOT, err, sizeof err);
  CHECK_EQ(s, static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
#if NV_TENSORRT_MAJOR >= 11
  CHECK(contains(err, "is TensorRT 10.3"));
  CHECK(contains(err, "needs TensorRT 11"));
#else
  CHECK(contains(err, "is TensorRT 11.1"));
  CHECK(contains(err, "needs TensorRT 10 (10.3 or a later 10.x)"));
#endif
  CHECK_EQ(api()->version(), 0);
}

TEST("a libnvinfer of this major but older than the layer's floor is refused, naming the floor") {
  if (!api()) SKIP("the layer did not load");
  char err[2048] = {0};
  CHECK_EQ(api()->load(HRSEG_FAKE_OLD_TENSORRT_ROOT, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
#if NV_TENSORRT_MAJOR >= 11
  CHECK(contains(err, "is TensorRT 11.0.0, older than TensorRT 11.1"));
#else
  CHECK(contains(err, "is TensorRT 10.0.0, older than TensorRT 10.3"));
#endif
  CHECK(contains(err, "install TensorRT"));
  CHECK_EQ(api()->version(), 0);
}

TEST("build, open and run refuse cleanly while TensorRT is not loaded") {
  if (!api()) SKIP("the layer did not load");
  char err[512] = {0};
  hrseg_trt_build_options o{};
  o.onnx_path = "x.onnx";
  o.plan_path = "x.plan";
  CHECK_EQ(api()->build(&o, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
  CHECK(contains(err, "not loaded"));
  CHECK_EQ(api()->build(nullptr, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_INVALID));
  hrseg_trt_engine* e = nullptr;
  CHECK_EQ(api()->open("/tmp/x.plan", 0, &e, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
  CHECK(e == nullptr);
  CHECK_EQ(api()->open(nullptr, 0, &e, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_INVALID));
  CHECK_EQ(api()->open("", 0, &e, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_INVALID));
  CHECK(std::string(api()->cannot_build()).find("not loaded") != std::string::npos);
  CHECK_EQ(api()->run_device(nullptr, nullptr, 0, nullptr, 0, err, sizeof err),
           static_cast<int32_t>(HRSEG_TRT_INVALID));
  CHECK_EQ(api()->io_count(nullptr), 0);
  // A tiny error buffer is still NUL-terminated.
  char tiny[4] = {'x', 'x', 'x', 'x'};
  api()->build(&o, tiny, sizeof tiny);
  CHECK_EQ(tiny[3], '\0');
}

TEST("the device entries answer with a status on a machine without a GPU, never a crash") {
  if (!api()) SKIP("the layer did not load");
  char err[512] = {0};
  CHECK_EQ(api()->run_device(nullptr, nullptr, 0, nullptr, 0, err, sizeof err),
           static_cast<int32_t>(HRSEG_TRT_INVALID));
  void* p = nullptr;
  CHECK_EQ(api()->device_alloc(16, 0, nullptr, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_INVALID));
  const int32_t a = api()->device_alloc(16, 0, &p, err, sizeof err);
  if (a == HRSEG_TRT_OK) {
    CHECK(p != nullptr);  // a machine with a GPU
    api()->device_free(p);
  } else {
    CHECK_EQ(a, static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
    CHECK(contains(err, "no CUDA device"));
  }
  api()->device_free(nullptr);
  char host[4];
  CHECK_EQ(api()->device_to_host(nullptr, host, 0, 0, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_OK));
  CHECK_EQ(api()->device_to_host(nullptr, host, 4, 0, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_INVALID));
  char uuid[8];
  CHECK_EQ(api()->device_uuid(0, uuid, sizeof uuid, err, sizeof err), static_cast<int32_t>(HRSEG_TRT_INVALID));
  char full[40];
  const int32_t u = api()->device_uuid(0, full, sizeof full, err, sizeof err);
  if (u == HRSEG_TRT_OK)
    CHECK_EQ(std::string(full).size(), size_t(32));
  else
    CHECK_EQ(u, static_cast<int32_t>(HRSEG_TRT_UNAVAILABLE));
}

TEST_MAIN()
