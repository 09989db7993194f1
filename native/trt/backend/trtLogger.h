// TensorRT's log: warnings and errors are kept (the last 64) so that a failed build or run can
// quote TensorRT's own words in its error; nothing is printed unless HRSEG_TRT_VERBOSE is set.
#pragma once
#include <NvInferRuntime.h>

#include <deque>
#include <mutex>
#include <string>

namespace hrseg::trt {

class CollectingLogger final : public nvinfer1::ILogger {
 public:
  CollectingLogger();
  void log(Severity severity, const char* msg) noexcept override;
  // The kept lines since the last clear, newest last, each prefixed with its severity.
  std::string lines() const;
  std::string last_error() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> lines_;
  std::string last_error_;
  bool verbose_ = false;  // HRSEG_TRT_VERBOSE: every line to stderr
};

// One logger for the process: TensorRT objects keep a pointer to the logger they were made with.
CollectingLogger& process_logger();

}  // namespace hrseg::trt
