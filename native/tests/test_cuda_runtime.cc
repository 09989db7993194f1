#include "check.h"
#include "hrseg_cuda/device_info.h"

TEST("the static CUDA runtime reports devices or the reason there are none") {
  auto q = hrseg::cuda::query_devices();
  CHECK(q.runtime_version >= 12000);
  if (q.devices.empty()) {
    CHECK(!q.reason.empty());
    SKIP("no CUDA device: " + q.reason);
  }
  for (const auto& d : q.devices) {
    CHECK(!d.name.empty());
    CHECK(d.major >= 7);
    CHECK(d.total_memory > 0);
  }
}

TEST_MAIN()
