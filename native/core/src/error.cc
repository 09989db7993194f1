#include "hrseg/error.h"

namespace hrseg {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument:
      return "INVALID_ARGUMENT";
    case ErrorCode::InvalidTensor:
      return "INVALID_TENSOR";
    case ErrorCode::Aborted:
      return "ABORTED";
    case ErrorCode::ModelFile:
      return "MODEL_FILE";
    case ErrorCode::OutOfMemory:
      return "OUT_OF_MEMORY";
    case ErrorCode::Internal:
      return "INTERNAL";
  }
  return "INTERNAL";
}

void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace hrseg
