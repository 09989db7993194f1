#include "hrseg/box_nms.h"

#include <algorithm>
#include <numeric>

namespace hrseg {

double box_iou(const Box& a, const Box& b) noexcept {
  const double area_a = (double(a[2]) - a[0]) * (double(a[3]) - a[1]);
  const double area_b = (double(b[2]) - b[0]) * (double(b[3]) - b[1]);
  const double w = std::max(0.0, double(std::min(a[2], b[2])) - std::max(a[0], b[0]));
  const double h = std::max(0.0, double(std::min(a[3], b[3])) - std::max(a[1], b[1]));
  const double inter = w * h, uni = area_a + area_b - inter;
  // Degenerate boxes (a one-pixel-wide mask has a zero-width box) overlap nothing, as in torchvision
  // where 0/0 is NaN and NaN > threshold is false.
  return uni > 0.0 ? inter / uni : 0.0;
}

std::vector<int64_t> box_nms(const std::vector<Box>& boxes, const std::vector<float>& scores, double iou_threshold) {
  std::vector<int64_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  std::vector<int64_t> kept;
  std::vector<char> removed(boxes.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t a = order[i];
    if (removed[a]) continue;
    kept.push_back(a);
    for (size_t j = i + 1; j < order.size(); ++j) {
      const int64_t b = order[j];
      if (!removed[b] && box_iou(boxes[a], boxes[b]) > iou_threshold) removed[b] = 1;
    }
  }
  return kept;
}

}  // namespace hrseg
