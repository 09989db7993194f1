// The mask generator of hrseg/mask_generator.h with its pixel work on the GPU: decoder logits stay
// on the device (as a TensorRT decoder leaves them), counts, boxes and the final masks are computed
// there, NMS suppression bits too; the small decisions (filters, the greedy scan, the area order)
// run on the host exactly as the CPU generator makes them. Same result, bit for bit.
#pragma once
#include <cuda_runtime_api.h>

#include <memory>

#include "hrseg/mask_generator.h"

namespace hrseg::cuda {

class MaskGeneratorCuda {
 public:
  MaskGeneratorCuda(const MaskGeneratorConfig& config, const MaskGeometry& geometry, cudaStream_t stream = nullptr);
  ~MaskGeneratorCuda();
  MaskGeneratorCuda(const MaskGeneratorCuda&) = delete;
  MaskGeneratorCuda& operator=(const MaskGeneratorCuda&) = delete;

  // logits [B, M, low, low] in device memory (read during the call only); iou [B, M] and
  // points [B, 2] on the host.
  void add_batch(const float* device_logits, const float* iou, const float* points, int64_t batch,
                 int64_t masks_per_prompt);

  // As MaskGenerator::finish; the masks are copied to host memory.
  Proposals finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hrseg::cuda
