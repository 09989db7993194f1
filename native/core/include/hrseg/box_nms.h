// Greedy non-maximum suppression on boxes, as torchvision.ops.nms: boxes (x0, y0, x1, y1) are
// continuous (area (x1 − x0)·(y1 − y0)), higher scores first, a box is dropped when its IoU with a
// kept one is above the threshold. Equal scores keep their input order, so the result is defined.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace hrseg {

using Box = std::array<float, 4>;

double box_iou(const Box& a, const Box& b) noexcept;

// Indices of the kept boxes, in descending score order.
std::vector<int64_t> box_nms(const std::vector<Box>& boxes, const std::vector<float>& scores, double iou_threshold);

}  // namespace hrseg
