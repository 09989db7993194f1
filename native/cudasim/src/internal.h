// cudasim internals shared by the runtime (runtime.cc) and the block scheduler (block.cc).
#pragma once
#include <cuda_runtime_api.h>

#include <functional>
#include <string>

namespace cudasim::detail {

// Prints "cudasim: <message>" (callers put where in a kernel first) and aborts: what a real GPU
// would turn into a hang, garbage or a sticky error fails the test at once, with its place.
[[noreturn]] void report_fault(const std::string& message);
// "kernel K, block (x,y,z), thread (x,y,z)" while device code runs, else empty.
std::string current_location();
// Runs one block to completion (every thread a fiber; block.cc).
void run_block(const char* kernel, uint3 block_idx, dim3 block_dim, dim3 grid_dim, void* dynamic_smem,
               const std::function<void()>& body);

}  // namespace cudasim::detail
