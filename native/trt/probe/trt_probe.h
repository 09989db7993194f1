// Finds TensorRT at run time (dlopen), so the addon never needs TensorRT to load and a user can
// install TensorRT after installing hrseg. Needs no TensorRT headers.
#pragma once
#include <string>

namespace hrseg::trt {

struct ProbeResult {
  bool loadable = false;
  std::string library;  // the file that was loaded
  std::string version;  // "10.3.0" when loadable
  std::string reason;   // why not, when not loadable
};

ProbeResult probe_tensorrt() noexcept;

}  // namespace hrseg::trt
