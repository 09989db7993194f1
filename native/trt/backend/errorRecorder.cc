#include "errorRecorder.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#include "trtLogger.h"

namespace hrseg::trt {

namespace {

// getNbErrors/getErrorCode/getErrorDesc answer for the errors since the last clear(), as the
// interface requires (NvInferRuntimeBase.h, IErrorRecorder); hrseg itself reads the journal.
class JournalRecorder final : public nvinfer1::IErrorRecorder {
 public:
  int32_t getNbErrors() const noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int32_t>(errors_.size());
  }
  nvinfer1::ErrorCode getErrorCode(int32_t i) const noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return i >= 0 && i < static_cast<int32_t>(errors_.size()) ? errors_[i].first
                                                              : nvinfer1::ErrorCode::kUNSPECIFIED_ERROR;
  }
  ErrorDesc getErrorDesc(int32_t i) const noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return i >= 0 && i < static_cast<int32_t>(errors_.size()) ? errors_[i].second.c_str() : "";
  }
  bool hasOverflowed() const noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return overflowed_;
  }
  void clear() noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_.clear();
    overflowed_ = false;
  }
  bool reportError(nvinfer1::ErrorCode code, ErrorDesc desc) noexcept override {
    process_logger().record(code, desc);
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      // Full: the new error is dropped, as the interface says (NvInferRuntimeBase.h, reportError),
      // so the descriptions handed out stay valid until clear() (a deque never moves its elements
      // on push_back).
      if (errors_.size() >= kKept)
        overflowed_ = true;
      else
        errors_.emplace_back(code, desc ? desc : "");
    } catch (...) {
    }
    // Not fatal by our judgement: TensorRT's own return values decide.
    return false;
  }
  RefCount incRefCount() noexcept override { return ++refs_; }
  RefCount decRefCount() noexcept override { return --refs_; }

 private:
  static constexpr size_t kKept = 64;
  mutable std::mutex mutex_;
  std::deque<std::pair<nvinfer1::ErrorCode, std::string>> errors_;
  bool overflowed_ = false;
  std::atomic<RefCount> refs_{0};
};

}  // namespace

nvinfer1::IErrorRecorder& process_error_recorder() {
  static JournalRecorder* recorder = new JournalRecorder();
  return *recorder;
}

}  // namespace hrseg::trt
