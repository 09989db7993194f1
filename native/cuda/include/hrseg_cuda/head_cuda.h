// The HRSeg head on the GPU: the same weights, config and results as hrseg::Head (head.h), with
// every operation on the device. The image step uploads its inputs once and keeps what the
// instruction step needs (M_HRE and the proposals) on the device, in a DeviceImage; the
// instruction step then only uploads h_seg. Selection (a sort of K ≤ 50 scores) runs on the host.
#pragma once
#include <cuda_runtime_api.h>

#include <memory>

#include "hrseg/head.h"

namespace hrseg::cuda {

struct DeviceImageState;

struct DeviceImage {
  ImageFeatures host;  // F_r, F_h, M_HRP, M_HRE copied back (the API returns them)
  std::shared_ptr<DeviceImageState> device;
  int64_t K = 0, H = 0, W = 0;
};

class HeadCuda {
 public:
  // Throws Error(ModelFile) like Head, and Error(InvalidArgument) for configs the GPU path does
  // not run (maskPooling "direct").
  HeadCuda(std::shared_ptr<SafeTensors> weights, HeadConfig config);
  ~HeadCuda();

  const HeadConfig& config() const;

  DeviceImage image_step(const float* fg, const float* fl, const uint8_t* masks, int64_t K, int64_t H, int64_t W) const;

  // The same from DINOv2's output still on the device (a TensorRT engine's): tokens [views, n_g², C]
  // in device memory, view 0 the global view and, with HRP, views 1…N² the crops, stitched into the
  // local map on the device. masks are on the host. No feature crosses to the host.
  DeviceImage image_step_from_tokens(const float* device_tokens, int64_t views, const uint8_t* masks, int64_t K,
                                     int64_t H, int64_t W) const;

  InstructionOutput instruction_step(const DeviceImage& image, const float* h_seg, int64_t S,
                                     const SelectionOverride& sel) const;

 private:
  DeviceImage image_step_impl(const float* fg, const float* fl, bool on_device, const uint8_t* masks, int64_t K,
                              int64_t H, int64_t W) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hrseg::cuda
