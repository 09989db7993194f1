// Errors thrown by native/core. The addon turns them into HrsegError with the same code,
// so the code strings here are part of the public contract (see lib/errors.ts).
#pragma once
#include <stdexcept>
#include <string>

namespace hrseg {

enum class ErrorCode {
  InvalidArgument,  // a caller-supplied value is out of its allowed range
  InvalidTensor,    // dtype, shape, length or alignment of a tensor is wrong
  Aborted,          // the operation was cancelled through its CancelToken
  ModelFile,        // a weights or model file is missing, truncated or inconsistent
  OutOfMemory,      // the GPU (or host) could not give the memory an operation needs
  Internal,
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void fail(ErrorCode code, const std::string& message);

}  // namespace hrseg
