#include "hrseg/cancel.h"

#include "hrseg/error.h"

namespace hrseg {

void CancelToken::check() const {
  if (cancelled()) fail(ErrorCode::Aborted, "the operation was aborted");
}

}  // namespace hrseg
