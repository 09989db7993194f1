// The JS/native tensor boundary. Inputs are borrowed: native code reads and writes the caller's
// TypedArray memory directly, and a persistent reference keeps it alive until the work that uses
// it has finished. Outputs are handed to JS as external ArrayBuffers that own native memory and
// free it in their finalizer; where the runtime refuses external buffers (Electron) they are copied.
#pragma once
#include <napi.h>

#include <memory>

#include "hrseg/tensor.h"

namespace hrseg::addon {

struct BorrowedTensor {
  TensorView view;
  // Holds the TypedArray (and with it its ArrayBuffer) while native work uses `view.data`.
  // Must be released on the JS thread: workers destroy it in their completion callback.
  std::shared_ptr<Napi::ObjectReference> keep_alive;
};

// Reads `{ dtype, dims, data }`. Throws a coded JS error (INVALID_TENSOR) naming `what` on a bad
// dtype, dims that are not non-negative integers, a data length that does not match, a detached
// buffer, or data that is not aligned to its element size.
BorrowedTensor borrow_tensor(Napi::Env env, Napi::Value value, const char* what);

// Moves `tensor` into JS as `{ dtype, dims, data }` with data a TypedArray of the matching kind.
Napi::Object tensor_to_js(Napi::Env env, Tensor&& tensor);

// For tests and embedders: false forces the copy path that runtimes without external buffers use.
void set_external_buffers_enabled(bool enabled);
bool external_buffers_enabled();

}  // namespace hrseg::addon
