#include "hrseg_cuda/mask_generator_cuda.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "hrseg/error.h"
#include "hrseg/mask_geometry.h"
#include "hrseg_cuda/amg_kernels.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/greedy_nms.h"

namespace hrseg::cuda {

namespace {

struct AxisOnDevice {
  DeviceBuffer<int32_t> first, count;
  DeviceBuffer<double> w;
  int32_t max_taps = 0;

  AxisOnDevice(const ComposedAxis& a, cudaStream_t s) : max_taps(static_cast<int32_t>(a.max_taps)) {
    const std::vector<int32_t> f(a.first.begin(), a.first.end()), c(a.count.begin(), a.count.end());
    first = to_device(f.data(), f.size(), s);
    count = to_device(c.data(), c.size(), s);
    w = to_device(a.w.data(), a.w.size(), s);
  }
  DeviceAxis view() const { return {first.get(), count.get(), w.get(), max_taps}; }
};

struct Candidate {
  float iou = 0, stability = 0;
  int64_t area = 0, source = 0, slot = 0;
  Box box{};
  float px = 0, py = 0;
};

}  // namespace

struct MaskGeneratorCuda::Impl {
  PoolHold hold;  // first: outlives the buffers below
  MaskGeneratorConfig config;
  MaskGeometry geo;
  cudaStream_t stream;
  std::unique_ptr<AxisOnDevice> rows, cols;
  std::vector<Candidate> candidates;
  DeviceBuffer<float> store;  // kept candidates' logits, slot · low²
  int64_t slots = 0;
  int64_t prompts = 0, evaluated = 0, passed_iou = 0;

  void reserve(int64_t more) {
    const int64_t plane = geo.low * geo.low;
    if (static_cast<size_t>((slots + more) * plane) <= store.size()) return;
    const int64_t capacity =
        std::max<int64_t>(slots + more, 2 * static_cast<int64_t>(store.size() / std::max<int64_t>(plane, 1)));
    DeviceBuffer<float> bigger(static_cast<size_t>(std::max<int64_t>(capacity, 64) * plane), stream);
    if (slots)
      HRSEG_CUDA_CHECK(
          cudaMemcpyAsync(bigger.get(), store.get(), slots * plane * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(stream));
    store = std::move(bigger);
  }
};

MaskGeneratorCuda::MaskGeneratorCuda(const MaskGeneratorConfig& config, const MaskGeometry& geometry,
                                     cudaStream_t stream)
    : impl_(std::make_unique<Impl>()) {
  MaskGenerator::validate(config, geometry);
  impl_->config = config;
  impl_->geo = geometry;
  impl_->stream = stream;
  const ComposedMap map = compose_mask_map(geometry.low, geometry.frame, geometry.height, geometry.width);
  impl_->rows = std::make_unique<AxisOnDevice>(map.rows, stream);
  impl_->cols = std::make_unique<AxisOnDevice>(map.cols, stream);
}

MaskGeneratorCuda::~MaskGeneratorCuda() = default;

void MaskGeneratorCuda::add_batch(const float* device_logits, const float* iou, const float* points, int64_t batch,
                                  int64_t masks_per_prompt) {
  Impl& m = *impl_;
  const int64_t n = batch * masks_per_prompt, plane = m.geo.low * m.geo.low;
  const std::vector<int64_t> passed = masks_above_iou(iou, n, m.config.pred_iou_threshold);
  const std::vector<int32_t> todo(passed.begin(), passed.end());  // int32 indices for the kernels
  const int64_t t = static_cast<int64_t>(todo.size());
  std::vector<int32_t> counts(t * 3), boxes(t * 4);
  if (t > 0) {
    DeviceBuffer<int32_t> which = to_device(todo.data(), todo.size(), m.stream), d_counts(t * 3, m.stream),
                          d_boxes(t * 4, m.stream);
    amg_stats(device_logits, m.geo.low, which.get(), t, m.rows->view(), m.cols->view(), m.geo.height, m.geo.width,
              m.config.mask_threshold, m.config.stability_offset, d_counts.get(), d_boxes.get(), m.stream);
    to_host(d_counts, counts.data(), counts.size(), m.stream);
    to_host(d_boxes, boxes.data(), boxes.size(), m.stream);
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  }
  // The batch's candidates are appended only once their logits are in the store: a failure on
  // the way (the store's growth, a copy) leaves the generator as it was before this batch.
  std::vector<int64_t> keep;
  std::vector<Candidate> fresh;
  for (int64_t j = 0; j < t; ++j) {
    const int64_t mid = counts[j * 3 + 1];
    const float stability = stability_score(counts[j * 3 + 2], counts[j * 3]);
    if (!stable_enough(stability, m.config.stability_threshold)) continue;
    const int64_t i = todo[j];
    Candidate c;
    c.iou = iou[i];
    c.stability = stability;
    c.area = mid;
    c.source = m.prompts * masks_per_prompt + i;
    c.box = mid > 0
                ? Box{float(boxes[j * 4]), float(boxes[j * 4 + 1]), float(boxes[j * 4 + 2]), float(boxes[j * 4 + 3])}
                : Box{0, 0, 0, 0};
    c.px = points[(i / masks_per_prompt) * 2];
    c.py = points[(i / masks_per_prompt) * 2 + 1];
    keep.push_back(i);
    fresh.push_back(c);
  }
  m.reserve(static_cast<int64_t>(keep.size()));
  int64_t slot = m.slots;
  for (size_t k = 0; k < keep.size(); ++k) {
    fresh[k].slot = slot++;
    HRSEG_CUDA_CHECK(cudaMemcpyAsync(m.store.get() + fresh[k].slot * plane, device_logits + keep[k] * plane,
                                     plane * sizeof(float), cudaMemcpyDeviceToDevice, m.stream));
  }
  HRSEG_CUDA_CHECK(cudaStreamSynchronize(m.stream));  // the caller may reuse its logits buffer now
  m.slots = slot;
  m.candidates.insert(m.candidates.end(), fresh.begin(), fresh.end());
  m.prompts += batch;
  m.evaluated += n;
  m.passed_iou += t;
}

Proposals MaskGeneratorCuda::finish() {
  Impl& m = *impl_;
  const int64_t n = static_cast<int64_t>(m.candidates.size());
  // NMS: order by score (stable), then greedy_nms (suppression bits on the GPU in bands, the scan here).
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return m.candidates[a].iou > m.candidates[b].iou; });
  std::vector<int64_t> kept;
  if (n > 0) {
    std::vector<float> sorted(n * 4);
    for (int64_t i = 0; i < n; ++i)
      std::copy(m.candidates[order[i]].box.begin(), m.candidates[order[i]].box.end(), &sorted[i * 4]);
    DeviceBuffer<float> d_boxes = to_device(sorted.data(), sorted.size(), m.stream);
    for (int64_t i : greedy_nms(d_boxes.get(), n, m.config.nms_iou_threshold, m.stream)) kept.push_back(order[i]);
  }
  const int64_t after_nms = static_cast<int64_t>(kept.size());
  std::vector<int64_t> areas;
  for (const Candidate& c : m.candidates) areas.push_back(c.area);
  largest_first(kept, areas, m.config.max_proposals);
  const int64_t K = static_cast<int64_t>(kept.size()), H = m.geo.height, W = m.geo.width;
  Proposals p = Proposals::allocate(K, H, W);
  std::vector<int32_t> slots(K);
  for (int64_t k = 0; k < K; ++k) {
    const Candidate& c = m.candidates[kept[k]];
    slots[k] = static_cast<int32_t>(c.slot);
    p.set(k, c.box, c.iou, c.stability, c.area, c.px, c.py, c.source);
  }
  if (K > 0) {
    DeviceBuffer<int32_t> which = to_device(slots.data(), slots.size(), m.stream);
    DeviceBuffer<uint8_t> out(K * H * W, m.stream);
    amg_masks(m.store.get(), m.geo.low, which.get(), K, m.rows->view(), m.cols->view(), H, W, m.config.mask_threshold,
              out.get(), m.stream);
    to_host(out, p.masks.as<uint8_t>(), out.size(), m.stream);
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  }
  p.evaluated = m.evaluated;
  p.passed_iou = m.passed_iou;
  p.passed_stability = n;
  p.after_nms = after_nms;
  return p;
}

}  // namespace hrseg::cuda
