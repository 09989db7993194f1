#pragma once
#include "hrseg_trt_api.h"

namespace hrseg::trt {

// Builds and writes one engine; throws Failure.
void build_engine(const hrseg_trt_build_options& options, const char* tensorrt_root);

}  // namespace hrseg::trt
