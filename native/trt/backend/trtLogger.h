// TensorRT's diagnostics, in one journal: the ILogger's warnings and errors and the
// IErrorRecorder's error codes (TensorRT sends an error to the recorder *instead of* the logger
// once one is attached, so both must land in the same place). Each entry keeps its sequence
// number, the thread that reported it and, for recorder entries, TensorRT's ErrorCode, so a
// failure can quote exactly what TensorRT said about *this* call (mark() before it, since() after)
// and tell an allocation failure from any other. Nothing is printed unless HRSEG_TRT_VERBOSE is set.
#pragma once
#include <NvInferRuntime.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace hrseg::trt {

class CollectingLogger final : public nvinfer1::ILogger {
 public:
  CollectingLogger();
  void log(Severity severity, const char* msg) noexcept override;
  // From the error recorder (errorRecorder.h): an error with TensorRT's code.
  void record(nvinfer1::ErrorCode code, const char* desc) noexcept;

  // The sequence number of the next entry: what since() counts from.
  uint64_t mark() const;
  // The errors (and, with warnings, the warnings) kept since `mark`, one per line; `this_thread`
  // keeps only those reported on the calling thread (TensorRT reports a factory's failure there).
  std::string since(uint64_t mark, bool this_thread = false, bool warnings = false) const;
  // Whether TensorRT reported `code` since `mark` (through the error recorder).
  bool reported(uint64_t mark, nvinfer1::ErrorCode code) const;
  // The newest error, or "".
  std::string last_error() const;

 private:
  struct Entry {
    uint64_t seq;
    std::thread::id thread;
    bool warning;
    int32_t code;  // an ErrorCode from the recorder; -1 for a log line
    std::string text;
  };
  void push(bool warning, int32_t code, std::string text);
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;
  uint64_t next_ = 0;
  bool verbose_ = false;  // HRSEG_TRT_VERBOSE: every line to stderr
};

// One logger for the process: TensorRT objects keep a pointer to the logger they were made with.
CollectingLogger& process_logger();

}  // namespace hrseg::trt
