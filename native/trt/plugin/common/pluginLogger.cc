#include "pluginLogger.h"

#include <atomic>

namespace hrseg::trt::plugin {

namespace {
std::atomic<nvinfer1::ILogger*> g_logger{nullptr};
std::atomic<nvinfer1::ILoggerFinder*> g_finder{nullptr};
thread_local std::string t_last_error;
}  // namespace

void set_logger(nvinfer1::ILogger* logger) noexcept { g_logger.store(logger); }
void set_logger_finder(nvinfer1::ILoggerFinder* finder) noexcept { g_finder.store(finder); }

void report_error(const std::string& message) noexcept {
  try {
    t_last_error = message;
    nvinfer1::ILogger* logger = g_logger.load();
    if (!logger) {
      if (nvinfer1::ILoggerFinder* finder = g_finder.load()) logger = finder->findLogger();
    }
    if (logger) logger->log(nvinfer1::ILogger::Severity::kERROR, message.c_str());
  } catch (...) {
    // Nothing more can be done from a noexcept path.
  }
}

std::string last_error() { return t_last_error; }
void clear_last_error() noexcept { t_last_error.clear(); }

}  // namespace hrseg::trt::plugin
