// A MaskResizer's tap tables (hrseg/mask_resize.h) copied to the device for resize_weights: the
// host builds them (the same tables the CPU head uses), the kernels only read them.
#pragma once
#include "hrseg/mask_resize.h"
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/head_kernels.h"

namespace hrseg::cuda {

struct DeviceResizeAxis {
  DeviceBuffer<int64_t> first, count, offset;
  DeviceBuffer<double> weight;
  ResizeTaps taps() const { return ResizeTaps{first.get(), count.get(), offset.get(), weight.get()}; }
};

struct DeviceResizeTables {
  DeviceResizeAxis y, x;
};

inline DeviceResizeAxis upload_axis(const ResizeAxis& a, cudaStream_t stream) {
  DeviceResizeAxis d;
  d.first = to_device(a.first.data(), a.first.size(), stream);
  d.count = to_device(a.count.data(), a.count.size(), stream);
  d.offset = to_device(a.offset.data(), a.offset.size(), stream);
  // An axis whose taps all fall in the padding has no weights; keep a valid pointer anyway.
  const double none = 0.0;
  d.weight = a.weight.empty() ? to_device(&none, 1, stream) : to_device(a.weight.data(), a.weight.size(), stream);
  return d;
}

inline DeviceResizeTables upload_resize_tables(const MaskResizer& r, cudaStream_t stream) {
  return DeviceResizeTables{upload_axis(r.y, stream), upload_axis(r.x, stream)};
}

}  // namespace hrseg::cuda
