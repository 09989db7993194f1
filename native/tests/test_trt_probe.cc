#include <cstdlib>

#include "check.h"
#include "trt_probe.h"

TEST("the TensorRT probe answers without crashing and explains a miss") {
  auto r = hrseg::trt::probe_tensorrt();
  if (r.loadable) {
    CHECK(!r.version.empty());
    CHECK(!r.library.empty());
  } else {
    CHECK(r.reason.find("libnvinfer") != std::string::npos);
  }
}

TEST("a TENSORRT_ROOT without TensorRT is reported, not fatal") {
  setenv("TENSORRT_ROOT", "/nonexistent-tensorrt-root", 1);
  auto r = hrseg::trt::probe_tensorrt();
  unsetenv("TENSORRT_ROOT");
  CHECK(r.loadable || !r.reason.empty());
}

TEST_MAIN()
