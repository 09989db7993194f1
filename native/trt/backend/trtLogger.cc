#include "trtLogger.h"

#include <cstdio>
#include <cstdlib>

namespace hrseg::trt {

namespace {
constexpr size_t kKept = 256;
}

CollectingLogger::CollectingLogger() {
  const char* v = std::getenv("HRSEG_TRT_VERBOSE");
  verbose_ = v && *v && *v != '0';
}

void CollectingLogger::push(bool warning, int32_t code, std::string text) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.push_back({next_++, std::this_thread::get_id(), warning, code, std::move(text)});
  if (entries_.size() > kKept) entries_.pop_front();
}

void CollectingLogger::log(Severity severity, const char* msg) noexcept {
  try {
    if (verbose_) std::fprintf(stderr, "[TensorRT] %s\n", msg ? msg : "");
    if (severity > Severity::kWARNING || !msg) return;
    push(severity == Severity::kWARNING, -1, msg);
  } catch (...) {
  }
}

void CollectingLogger::record(nvinfer1::ErrorCode code, const char* desc) noexcept {
  try {
    if (verbose_) std::fprintf(stderr, "[TensorRT] error %d: %s\n", static_cast<int>(code), desc ? desc : "");
    push(false, static_cast<int32_t>(code), desc ? desc : "");
  } catch (...) {
  }
}

uint64_t CollectingLogger::mark() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return next_;
}

std::string CollectingLogger::since(uint64_t mark, bool this_thread, bool warnings) const {
  const std::thread::id me = std::this_thread::get_id();
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const Entry& e : entries_) {
    if (e.seq < mark || (this_thread && e.thread != me) || (e.warning && !warnings)) continue;
    out += (out.empty() ? "" : "\n") + std::string(e.warning ? "warning: " : "error: ") + e.text;
  }
  return out;
}

bool CollectingLogger::reported(uint64_t mark, nvinfer1::ErrorCode code) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Entry& e : entries_)
    if (e.seq >= mark && e.code == static_cast<int32_t>(code)) return true;
  return false;
}

std::string CollectingLogger::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (!it->warning) return it->text;
  return "";
}

CollectingLogger& process_logger() {
  // Never destroyed: TensorRT objects released during static destruction may still log.
  static CollectingLogger* logger = new CollectingLogger();
  return *logger;
}

}  // namespace hrseg::trt
