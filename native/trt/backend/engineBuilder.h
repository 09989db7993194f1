#pragma once
#include "hrseg_trt_api.h"

namespace hrseg::trt {

// The flags createNetworkV2 gets: a strongly typed network, the ONNX file's own types deciding
// fp32, fp16 or bf16. TensorRT 11 networks are always strongly typed (its kSTRONGLY_TYPED is
// deprecated and numbered 0); TensorRT 10 must be asked (kSTRONGLY_TYPED is 1 there), or it would
// build a weakly typed network and choose precisions itself.
uint32_t network_creation_flags();

// Builds and writes one engine; throws Failure.
void build_engine(const hrseg_trt_build_options& options, const char* tensorrt_root);

}  // namespace hrseg::trt
