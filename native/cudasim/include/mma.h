// cudasim: nvcuda::wmma for the 16×16×16 shapes (half and bfloat16 inputs, float accumulators).
// Each operation is warp-collective: all 32 lanes must reach it together (checked). Every lane
// holds the whole tile (CUDA leaves the lane ↔ element mapping unspecified, so code may only use
// x[i] element-wise, which this honours). load/store check CUDA's documented rules: a 256-bit
// aligned pointer, and ldm a multiple of 16 bytes' worth of elements.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstdio>

#include "cudasim/device.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment;

namespace detail {
template <typename Use, int M, int N, int K>
struct tile_shape;
template <int M, int N, int K>
struct tile_shape<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct tile_shape<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct tile_shape<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

inline void collective(const char* what, const char* file, int line) {
  ::cudasim::detail::warp_collective(::cudasim::detail::WarpOp::Wmma, 0xffffffffu, 0, 0, 32, file ? file : what, line);
}
template <typename T>
inline void check_memory(const void* p, unsigned ldm, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    ::cudasim::detail::device_fault(what, "the pointer is not 256-bit aligned");
  if ((ldm * sizeof(T)) % 16 != 0) ::cudasim::detail::device_fault(what, "ldm is not a multiple of 16 bytes");
}
}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "cudasim: only the 16×16×16 WMMA shape is simulated");
  static constexpr int rows = detail::tile_shape<Use, M, N, K>::rows, cols = detail::tile_shape<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols;
  T x[num_elements];  // row-major tile, whatever the memory layout
};

template <typename Use, int M, int N, int K, typename T, typename L>
inline void fill_fragment_at(fragment<Use, M, N, K, T, L>& f, T v, const char* file, int line) {
  detail::collective("wmma::fill_fragment", file, line);
  for (auto& e : f.x) e = v;
}

template <typename Use, int M, int N, int K, typename T, typename L>
inline void load_matrix_sync_at(fragment<Use, M, N, K, T, L>& f, const T* p, unsigned ldm, const char* file, int line) {
  static_assert(!std::is_same<Use, accumulator>::value, "an accumulator load needs a layout");
  detail::collective("wmma::load_matrix_sync", file, line);
  detail::check_memory<T>(p, ldm, "wmma::load_matrix_sync");
  constexpr bool row = std::is_same<L, row_major>::value;
  using F = fragment<Use, M, N, K, T, L>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = row ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K, typename T>
inline void load_matrix_sync_at(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t layout,
                                const char* file, int line) {
  detail::collective("wmma::load_matrix_sync", file, line);
  detail::check_memory<T>(p, ldm, "wmma::load_matrix_sync");
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) f.x[r * N + c] = layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
}

template <int M, int N, int K, typename T>
inline void store_matrix_sync_at(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout,
                                 const char* file, int line) {
  detail::collective("wmma::store_matrix_sync", file, line);
  detail::check_memory<T>(p, ldm, "wmma::store_matrix_sync");
  // Every lane holds the tile; one writes it (on the GPU each lane writes its own elements), so a
  // race detector sees one writer per element, as on the device.
  if (::cudasim::detail::lane_id() != 0) return;
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}

// D = A·B + C with products exact in float and sums in float, in k order.
template <int M, int N, int K, typename T, typename LA, typename LB>
inline void mma_sync_at(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
                        const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c,
                        const char* file, int line) {
  detail::collective("wmma::mma_sync", file, line);
  // nvcc has no bf16 fragments before sm_80 (an "incomplete type" there): code that reaches one on
  // a 7.x device is code the real build could not have, so it faults rather than computing.
  if (std::is_same<T, __nv_bfloat16>::value && ::cudasim::detail::compute_capability() < 80)
    ::cudasim::detail::device_fault("wmma::mma_sync", "bf16 fragments need compute capability 8.0 or newer");
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = c.x[i * N + j];
      for (int k = 0; k < K; ++k) acc += static_cast<float>(a.x[i * K + k]) * static_cast<float>(b.x[k * N + j]);
      out[i * N + j] = acc;
    }
  for (int i = 0; i < M * N; ++i) d.x[i] = out[i];
}

}  // namespace nvcuda::wmma

#define fill_fragment(...) fill_fragment_at(__VA_ARGS__, __FILE__, __LINE__)
#define load_matrix_sync(...) load_matrix_sync_at(__VA_ARGS__, __FILE__, __LINE__)
#define store_matrix_sync(...) store_matrix_sync_at(__VA_ARGS__, __FILE__, __LINE__)
#define mma_sync(...) mma_sync_at(__VA_ARGS__, __FILE__, __LINE__)
