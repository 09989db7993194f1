#include "hrseg/tensor.h"

#include <sstream>

#include "hrseg/error.h"

namespace hrseg {

int64_t element_count(const Dims& dims) noexcept {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string dims_to_string(const Dims& dims) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < dims.size(); ++i) s << (i ? "," : "") << dims[i];
  s << ']';
  return s.str();
}

Tensor::Tensor(DType dtype_, Dims dims_)
    : dtype(dtype_), dims(std::move(dims_)), buffer(static_cast<size_t>(element_count(dims)) * dtype_size(dtype_)) {}

void expect_tensor(const TensorView& view, const char* what, DType dtype, const Dims& expected) {
  bool ok = view.dtype == dtype && view.dims.size() == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == view.dims[i];
  if (!ok) {
    std::ostringstream s;
    s << what << ": expected " << dtype_name(dtype) << dims_to_string(expected) << " (-1 = any), got "
      << dtype_name(view.dtype) << dims_to_string(view.dims);
    fail(ErrorCode::InvalidTensor, s.str());
  }
}

}  // namespace hrseg
