#include <atomic>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "hrseg/thread_pool.h"

using namespace hrseg;

// A reduction whose chunking depends only on the grain: its result must not change with the
// number of threads, bit for bit.
static double chunked_sum(const std::vector<double>& x, int threads) {
  set_num_threads(threads);
  const int64_t grain = 97;
  const int64_t chunks = (static_cast<int64_t>(x.size()) + grain - 1) / grain;
  std::vector<double> partial(chunks, 0.0);
  parallel_for(0, static_cast<int64_t>(x.size()), grain, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += x[i];
    partial[b / grain] = s;
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

TEST("parallel_for covers every index exactly once") {
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    std::vector<std::atomic<int>> hits(1001);
    parallel_for(0, 1001, 13, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    bool once = true;
    for (auto& h : hits) once = once && h.load() == 1;
    CHECK(once);
  }
  set_num_threads(0);
}

TEST("results are identical for any thread count") {
  std::vector<double> x(100000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0 / (1.0 + static_cast<double>(i)) * ((i % 3) ? 1 : -1);
  const double one = chunked_sum(x, 1);
  for (int threads : {2, 5, 16}) CHECK(chunked_sum(x, threads) == one);
  set_num_threads(0);
}

TEST("an exception in a chunk reaches the caller and the pool stays usable") {
  set_num_threads(4);
  CHECK_THROWS(std::runtime_error, parallel_for(0, 100, 1, [](int64_t b, int64_t) {
                 if (b == 37) throw std::runtime_error("chunk 37");
               }));
  std::atomic<int64_t> n{0};
  parallel_for(0, 100, 1, [&](int64_t b, int64_t e) { n += e - b; });
  CHECK_EQ(n.load(), 100);
  set_num_threads(0);
}

TEST("empty and single-chunk ranges run inline") {
  int calls = 0;
  parallel_for(5, 5, 1, [&](int64_t, int64_t) { ++calls; });
  CHECK_EQ(calls, 0);
  parallel_for(0, 10, 100, [&](int64_t b, int64_t e) { calls += static_cast<int>(e - b); });
  CHECK_EQ(calls, 10);
  CHECK(num_threads() >= 1);
}

TEST_MAIN()
