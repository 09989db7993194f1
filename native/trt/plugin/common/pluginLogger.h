// Where plugin errors go. TensorRT's noexcept plugin methods cannot throw, so a failure is logged
// here and reported by a status code or nullptr. The backend installs its logger; a plugin library
// loaded by trtexec or Triton receives an ILoggerFinder through setLoggerFinder instead.
#pragma once
#include <NvInferRuntime.h>

#include <string>

namespace hrseg::trt::plugin {

void set_logger(nvinfer1::ILogger* logger) noexcept;
void set_logger_finder(nvinfer1::ILoggerFinder* finder) noexcept;

// Logs at kERROR and remembers the message for this thread (last_error, for tests and the backend).
void report_error(const std::string& message) noexcept;
std::string last_error();
void clear_last_error() noexcept;

}  // namespace hrseg::trt::plugin
