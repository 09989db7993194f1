#include "hrseg/mask_upscale.h"

#include <vector>

#include "hrseg/error.h"
#include "hrseg/mask_geometry.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

void upscale_mask_logits(const float* low, int64_t n, int64_t L, int64_t frame, int64_t height, int64_t width,
                         float* out) {
  if (n < 0 || L < 1 || frame < 1 || height < 1 || width < 1)
    throw Error(ErrorCode::InvalidArgument, "upscale_mask_logits: sizes must be positive");
  const ComposedMap map = compose_mask_map(L, frame, height, width);
  parallel_for(0, n, 1, [&](int64_t m0, int64_t m1) {
    std::vector<double> rows(static_cast<size_t>(height * L));  // rows resized, columns still low
    for (int64_t m = m0; m < m1; ++m) {
      const float* src = low + m * L * L;
      for (int64_t r = 0; r < height; ++r)
        for (int64_t c = 0; c < L; ++c) {
          double s = 0;
          for (int64_t t = 0; t < map.rows.count[r]; ++t)
            s += map.rows.w[r * map.rows.max_taps + t] * src[(map.rows.first[r] + t) * L + c];
          rows[r * L + c] = s;
        }
      float* dst = out + m * height * width;
      for (int64_t r = 0; r < height; ++r)
        for (int64_t c = 0; c < width; ++c) {
          double s = 0;
          for (int64_t t = 0; t < map.cols.count[c]; ++t)
            s += map.cols.w[c * map.cols.max_taps + t] * rows[r * L + map.cols.first[c] + t];
          dst[r * width + c] = static_cast<float>(s);
        }
    }
  });
}

}  // namespace hrseg
