#pragma once
#include <napi.h>

namespace hrseg::addon {
// Hooks that let the JS tests observe the tensor bridge and the worker machinery from outside:
// in-place writes, delayed reads, long cancellable work, output tensors and the live-allocation
// counter. They are small and side-effect free, so they ship in the binary as `_testing`.
Napi::Object testing_exports(Napi::Env env);
}  // namespace hrseg::addon
