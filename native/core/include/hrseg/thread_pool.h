// A fixed pool of worker threads for data-parallel loops. Work is split into chunks whose
// boundaries depend only on the range and the grain, never on the thread count, and every
// output element is written by exactly one chunk: results are bit-identical for any pool size.
#pragma once
#include <cstdint>
#include <functional>

namespace hrseg {

// fn(begin, end) is called for disjoint sub-ranges covering [begin, end).
using RangeFn = std::function<void(int64_t, int64_t)>;

// Runs fn over [begin, end) in chunks of `grain` items on the process-wide pool.
// The calling thread takes part. Exceptions from fn are rethrown (the first one wins).
void parallel_for(int64_t begin, int64_t end, int64_t grain, const RangeFn& fn);

// Threads used by parallel_for, the caller included. Defaults to the hardware concurrency,
// or HRSEG_NUM_THREADS when set. set_num_threads(0) restores the default.
int num_threads() noexcept;
void set_num_threads(int n);

}  // namespace hrseg
