// cudasim: kernel launches. HRSEG_LAUNCH(kernel, grid, block, smem, stream)(args...) (hrseg_cuda/
// launch.h) is `kernel<<<grid, block, smem, stream>>>(args...)` under nvcc and a call here in the
// simulated build: the configuration is checked as the driver checks it (an invalid one sets the
// error cudaGetLastError returns and is not run), then the grid is queued on the stream.
#pragma once
#include <cuda_runtime_api.h>

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cudasim {
namespace detail {
void launch(const void* kernel, const char* name, dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream,
            std::function<void()> thread_body);
}

template <typename... P>
struct Launcher {
  void (*kernel)(P...);
  const char* name;
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;

  template <typename... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    // Arguments are converted and copied at the launch, as CUDA copies them into the launch.
    auto params =
        std::make_shared<std::tuple<std::decay_t<P>...>>(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
    auto k = kernel;
    detail::launch(reinterpret_cast<const void*>(k), name, grid, block, smem, stream,
                   [k, params] { std::apply(k, *params); });
  }
};

template <typename... P>
Launcher<P...> launcher(void (*kernel)(P...), const char* name, dim3 grid, dim3 block, size_t smem,
                        cudaStream_t stream) {
  return Launcher<P...>{kernel, name, grid, block, smem, stream};
}

}  // namespace cudasim
