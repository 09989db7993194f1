// Tensors as native/core sees them: a borrowed view (TensorView) over memory someone else owns,
// or an owned Tensor backed by a Buffer. Shapes are row-major and dense.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "hrseg/buffer.h"
#include "hrseg/dtype.h"

namespace hrseg {

using Dims = std::vector<int64_t>;

int64_t element_count(const Dims& dims) noexcept;
std::string dims_to_string(const Dims& dims);

struct TensorView {
  DType dtype = DType::F32;
  Dims dims;
  void* data = nullptr;

  int64_t numel() const noexcept { return element_count(dims); }
  size_t nbytes() const noexcept { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T>
  T* as() const noexcept {
    return static_cast<T*>(data);
  }
};

struct Tensor {
  DType dtype = DType::F32;
  Dims dims;
  Buffer buffer;

  Tensor() = default;
  Tensor(DType dtype, Dims dims);  // zero-filled
  int64_t numel() const noexcept { return element_count(dims); }
  TensorView view() noexcept { return TensorView{dtype, dims, buffer.data()}; }
  template <typename T>
  T* as() noexcept {
    return buffer.as<T>();
  }
  template <typename T>
  const T* as() const noexcept {
    return buffer.as<T>();
  }
};

// Throws Error(InvalidTensor) naming `what` unless the view has this dtype and shape;
// a dim of -1 in `expected` matches any size.
void expect_tensor(const TensorView& view, const char* what, DType dtype, const Dims& expected);

}  // namespace hrseg
