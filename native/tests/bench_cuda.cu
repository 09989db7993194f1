// GPU benchmarks at SPEC.md's default shapes (no Node needed), run by scripts/device-check.sh:
//   build/native/tests/bench_cuda [out.json]
// Measures this device's ceilings in the same run (copy bandwidth, fp32 FMA rate, fp16 tensor-core
// rate), then each operation's time and its achieved rate against the matching ceiling, and writes
// one JSON object per operation to out.json for the table (scripts/device_table.py).
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <mma.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "amg_fixture.h"
#include "hrseg/resample.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/device_info.h"
#include "hrseg_cuda/gemm.h"
#include "hrseg_cuda/head_cuda.h"
#include "hrseg_cuda/head_kernels.h"
#include "hrseg_cuda/resize_tables.h"
#include "head_fixture.h"
#include "hrseg_cuda/mask_generator_cuda.h"
#include "random.h"

using namespace hrseg;
using cuda::DeviceBuffer;

namespace {

// Median time of fn in ms over `iters` runs (after two warm-ups), measured with events.
double time_ms(const std::function<void()>& fn, int iters = 20) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  fn();
  fn();
  std::vector<float> t;
  for (int i = 0; i < iters; ++i) {
    cudaEventRecord(a);
    fn();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

__global__ void fma_peak_kernel(float* out, int iters) {
  float a0 = threadIdx.x, a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7;
  const float m = 1.0000001f, c = 1e-7f;
  for (int i = 0; i < iters; ++i) {
    a0 = fmaf(a0, m, c), a1 = fmaf(a1, m, c), a2 = fmaf(a2, m, c), a3 = fmaf(a3, m, c);
    a4 = fmaf(a4, m, c), a5 = fmaf(a5, m, c), a6 = fmaf(a6, m, c), a7 = fmaf(a7, m, c);
  }
  if (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 == 12345.0f) out[0] = a0;  // keeps the loop alive
}

__global__ void tc_peak_kernel(float* out, int iters) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[4];
  wmma::fill_fragment(a, __float2half(0.001f));
  wmma::fill_fragment(b, __float2half(0.001f));
  for (auto& f : c) wmma::fill_fragment(f, 0.0f);
  for (int i = 0; i < iters; ++i)
    for (auto& f : c) wmma::mma_sync(f, a, b, f);
  if (c[0].x[0] + c[1].x[0] + c[2].x[0] + c[3].x[0] == 12345.0f) out[0] = 1;
}

struct Row {
  std::string op, unit;
  double ms, achieved, ceiling;
};

}  // namespace

int main(int argc, char** argv) {
  auto q = cuda::query_devices();
  if (q.devices.empty()) {
    std::printf("bench_cuda: no CUDA device: %s\n", q.reason.c_str());
    return 77;
  }
  const auto& dev = q.devices[0];
  const int sms = dev.multiprocessors;
  std::vector<Row> rows;

  // ---- ceilings ----
  const size_t big = size_t{1} << 30;
  DeviceBuffer<uint8_t> src(big), dst(big);
  const double copy_ms = time_ms([&] { cudaMemcpyAsync(dst.get(), src.get(), big, cudaMemcpyDeviceToDevice); }, 10);
  const double bw = 2.0 * big / (copy_ms * 1e-3) / 1e9;  // GB/s, read + write
  DeviceBuffer<float> sink(1);
  const int fma_iters = 4096;
  const double fma_ms = time_ms([&] { fma_peak_kernel<<<sms * 8, 256>>>(sink.get(), fma_iters); }, 10);
  const double fma_peak = 2.0 * 8 * fma_iters * double(sms) * 8 * 256 / (fma_ms * 1e-3) / 1e9;  // GFLOP/s
  const int tc_iters = 2048;
  const double tc_ms = time_ms([&] { tc_peak_kernel<<<sms * 8, 128>>>(sink.get(), tc_iters); }, 10);
  const double tc_peak = 2.0 * 16 * 16 * 16 * 4 * tc_iters * double(sms) * 8 * 4 / (tc_ms * 1e-3) / 1e9;
  std::printf("device %s (sm_%d%d, %d SMs): copy %.0f GB/s, fp32 FMA %.0f GFLOP/s, fp16 tensor cores %.0f GFLOP/s\n",
              dev.name.c_str(), dev.major, dev.minor, sms, bw, fma_peak, tc_peak);

  // ---- the head's image step at the default shapes ----
  const int64_t C = 1024, d = 256, ng = 37, N = 2, nl = N * ng, K = 50, P = 256, H = 768, W = 1024, L = 2;
  auto up = [](const std::vector<float>& h) { return cuda::to_device(h.data(), h.size()); };
  auto fg = up(check::uniform(ng * ng * C)), fl = up(check::uniform(nl * nl * C));
  auto w_in = up(check::uniform(d * C, -0.03f, 0.03f)), b_in = up(check::uniform(d));
  auto wq = up(check::uniform(d * d, -0.06f, 0.06f)), wkv = up(check::uniform(2 * d * d, -0.06f, 0.06f));
  std::vector<uint8_t> masks_h(K * H * W);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t y = (k * 13) % 400; y < (k * 13) % 400 + 300; ++y)
      for (int64_t x = (k * 29) % 600; x < (k * 29) % 600 + 400; ++x) masks_h[(k * H + y) * W + x] = 1;
  DeviceBuffer<uint8_t> masks = cuda::to_device(masks_h.data(), masks_h.size());
  DeviceBuffer<float> xg(ng * ng * d), xl(nl * nl * d), qb(ng * ng * d), kv(nl * nl * 2 * d), fr(ng * ng * d),
      fh(ng * ng * d), aw(K * P * P), scratch(K * (2 * P * ng + ng * ng)), mhrp(K * d), hq(K * d), hk(ng * ng * d),
      hv(ng * ng * d), ctx(K * d);
  std::vector<DeviceBuffer<float>> hre_w;
  for (int i = 0; i < 3 * L; ++i) hre_w.push_back(up(check::uniform(d * d, -0.06f, 0.06f)));
  auto ln_g = up(std::vector<float>(d, 1.0f)), ln_b = up(std::vector<float>(d, 0.0f));

  const double proj_flop = 2.0 * (ng * ng + nl * nl) * C * d;
  auto input_proj = [&] {
    cuda::gemm_f32(fg.get(), ng * ng, C, w_in.get(), b_in.get(), d, xg.get(), false, nullptr);
    cuda::gemm_f32(fl.get(), nl * nl, C, w_in.get(), b_in.get(), d, xl.get(), false, nullptr);
  };
  double ms = time_ms(input_proj);
  rows.push_back({"input projection fp32 (6845x1024 -> 256)", "GFLOP/s", ms, proj_flop / (ms * 1e-3) / 1e9, fma_peak});

  DeviceBuffer<uint16_t> fg16(ng * ng * C), fl16(nl * nl * C), w16(d * C);
  cuda::to_half16(fg.get(), fg16.get(), ng * ng * C, cuda::Half16::F16, nullptr);
  cuda::to_half16(fl.get(), fl16.get(), nl * nl * C, cuda::Half16::F16, nullptr);
  cuda::to_half16(w_in.get(), w16.get(), d * C, cuda::Half16::F16, nullptr);
  ms = time_ms([&] {
    cuda::gemm_tc(fg16.get(), ng * ng, C, w16.get(), b_in.get(), d, xg.get(), cuda::Half16::F16, false, nullptr);
    cuda::gemm_tc(fl16.get(), nl * nl, C, w16.get(), b_in.get(), d, xl.get(), cuda::Half16::F16, false, nullptr);
  });
  rows.push_back({"input projection fp16 tensor cores", "GFLOP/s", ms, proj_flop / (ms * 1e-3) / 1e9, tc_peak});

  auto region = [&] {
    cuda::gemm_f32(xg.get(), ng * ng, d, wq.get(), nullptr, d, qb.get(), false, nullptr);
    cuda::gemm_f32(xl.get(), nl * nl, d, wkv.get(), nullptr, 2 * d, kv.get(), false, nullptr);
    cuda::region_attention(qb.get(), kv.get(), xg.get(), ng, N, d, 0.8f, fr.get(), fh.get(), nullptr);
  };
  ms = time_ms(region);
  const double region_flop = 2.0 * ng * ng * d * d + 2.0 * nl * nl * d * 2 * d + 4.0 * ng * ng * N * N * d;
  rows.push_back({"region attention (q, k, v GEMMs + fused window softmax + mix)", "GFLOP/s", ms,
                  region_flop / (ms * 1e-3) / 1e9, fma_peak});

  // The default maskResize (bilinear-antialias); the tables are built once per image size.
  const cuda::DeviceResizeTables tables =
      cuda::upload_resize_tables(MaskResizer(MaskResize::BilinearAntialias, H, W, P), nullptr);
  auto pooling = [&] {
    cuda::resize_weights(masks.get(), K, H, W, P, tables.y.taps(), tables.x.taps(), aw.get(), nullptr);
    cuda::mask_pool_pulled_back(aw.get(), K, P, fh.get(), ng, d, scratch.get(), mhrp.get(), nullptr);
  };
  ms = time_ms(pooling);
  rows.push_back({"mask pooling (K 50, 1024x768, pulled back)", "GB/s", ms, double(K * H * W) / (ms * 1e-3) / 1e9, bw});

  auto hre = [&] {
    for (int64_t l = 0; l < L; ++l) {
      cuda::gemm_f32(mhrp.get(), K, d, hre_w[3 * l].get(), nullptr, d, hq.get(), false, nullptr);
      cuda::gemm_f32(fh.get(), ng * ng, d, hre_w[3 * l + 1].get(), nullptr, d, hk.get(), false, nullptr);
      cuda::gemm_f32(fh.get(), ng * ng, d, hre_w[3 * l + 2].get(), nullptr, d, hv.get(), false, nullptr);
      cuda::attention_core(hq.get(), d, hk.get(), d, hv.get(), d, K, ng * ng, d, d, 1, ctx.get(), nullptr);
      cuda::add_layer_norm(mhrp.get(), ctx.get(), K, d, ln_g.get(), ln_b.get(), nullptr);
    }
  };
  ms = time_ms(hre);
  const double hre_flop = L * (2.0 * K * d * d + 4.0 * ng * ng * d * d + 4.0 * K * ng * ng * d);
  rows.push_back(
      {"HRE (2 cross-attention layers over 1369 tokens)", "GFLOP/s", ms, hre_flop / (ms * 1e-3) / 1e9, fma_peak});

  ms = time_ms([&] {
    input_proj();
    region();
    pooling();
    hre();
  });
  rows.push_back({"head image step, fp32 (all of the above)", "GFLOP/s", ms,
                  (proj_flop + region_flop + hre_flop) / (ms * 1e-3) / 1e9, fma_peak});

  // ---- the whole head through HeadCuda, host inputs and outputs included ----
  {
    HeadConfig hc;
    auto bytes = check::encode_safetensors(check::random_head_weights(hc));
    auto st = SafeTensors::borrow(bytes.data(), bytes.size(), "bench head");
    cuda::HeadCuda head(st, hc);
    auto hfg = check::uniform(ng * ng * C), hfl = check::uniform(nl * nl * C), hseg = check::uniform(hc.hidden_size);
    cuda::DeviceImage img;
    ms = time_ms([&] { img = head.image_step(hfg.data(), hfl.data(), masks_h.data(), K, H, W); }, 10);
    rows.push_back({"HeadCuda image step (incl. 39 MB of inputs to the device)", "GFLOP/s", ms,
                    (proj_flop + region_flop + hre_flop) / (ms * 1e-3) / 1e9, fma_peak});
    ms = time_ms([&] { head.instruction_step(img, hseg.data(), 1, {}); }, 10);
    rows.push_back({"HeadCuda instruction step (fusion, heads, selection, mask)", "GB/s", ms,
                    double(H * W) / (ms * 1e-3) / 1e9, bw});
  }

  // ---- mask generator post-processing: 1024 prompts x 3 masks, 1024x1024 image ----
  {
    const int64_t low = 256, prompts = 1024, per = 3, batch = 64, side = 1024;
    auto data = check::sam_like_logits(prompts, per, low, low, side, side, 11);
    DeviceBuffer<float> logits = cuda::to_device(data.logits.data(), data.logits.size());
    MaskGeneratorConfig cfg;
    MaskGeometry geo{low, 1024, side, side};
    int64_t kept = 0;
    ms = time_ms(
        [&] {
          cuda::MaskGeneratorCuda gen(cfg, geo);
          for (int64_t b = 0; b < prompts; b += batch)
            gen.add_batch(logits.get() + b * per * low * low, data.iou.data() + b * per, data.points.data() + b * 2,
                          batch, per);
          kept = gen.finish().masks.dims[0];
        },
        5);
    rows.push_back({"AMG post-processing (1024 prompts x 3, 1024x1024)", "GB/s", ms,
                    double(data.logits.size() * 4) / (ms * 1e-3) / 1e9, bw});
    std::printf("  (AMG kept %lld proposals)\n", static_cast<long long>(kept));
  }

  std::printf("%-66s %10s %14s %10s\n", "operation", "ms", "achieved", "of ceiling");
  for (const Row& r : rows)
    std::printf("%-66s %10.4f %9.1f %-5s %9.1f%%\n", r.op.c_str(), r.ms, r.achieved, r.unit.c_str(),
                100.0 * r.achieved / r.ceiling);
  if (argc > 1) {
    FILE* f = std::fopen(argv[1], "w");
    if (!f) return 1;
    std::fprintf(f, "{\"device\": \"%s\", \"copy_gbs\": %.1f, \"fma_gflops\": %.1f, \"tc_gflops\": %.1f, \"ops\": [",
                 dev.name.c_str(), bw, fma_peak, tc_peak);
    for (size_t i = 0; i < rows.size(); ++i)
      std::fprintf(f, "%s{\"op\": \"%s\", \"ms\": %.5f, \"achieved\": %.2f, \"unit\": \"%s\", \"ceiling\": %.2f}",
                   i ? ", " : "", rows[i].op.c_str(), rows[i].ms, rows[i].achieved, rows[i].unit.c_str(),
                   rows[i].ceiling);
    std::fprintf(f, "]}\n");
    std::fclose(f);
  }
  return 0;
}
