#include "trtLogger.h"

#include <cstdio>
#include <cstdlib>

namespace hrseg::trt {

CollectingLogger::CollectingLogger() {
  const char* v = std::getenv("HRSEG_TRT_VERBOSE");
  verbose_ = v && *v && *v != '0';
}

void CollectingLogger::log(Severity severity, const char* msg) noexcept {
  try {
    if (verbose_) std::fprintf(stderr, "[TensorRT] %s\n", msg);
    if (severity > Severity::kWARNING) return;
    const char* tag = severity == Severity::kWARNING ? "warning" : "error";
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.push_back(std::string(tag) + ": " + msg);
    if (lines_.size() > 64) lines_.pop_front();
    if (severity <= Severity::kERROR) last_error_ = msg;
  } catch (...) {
  }
}

std::string CollectingLogger::lines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const std::string& l : lines_) out += (out.empty() ? "" : "\n") + l;
  return out;
}

std::string CollectingLogger::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

void CollectingLogger::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  lines_.clear();
  last_error_.clear();
}

CollectingLogger& process_logger() {
  static CollectingLogger logger;
  return logger;
}

}  // namespace hrseg::trt
