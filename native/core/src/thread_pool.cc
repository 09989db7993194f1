#include "hrseg/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hrseg {

namespace {

int default_threads() {
  if (const char* env = std::getenv("HRSEG_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

class Pool {
 public:
  ~Pool() { resize(0); }

  int size() {
    std::lock_guard<std::mutex> lock(run_mutex_);
    return threads_wanted_;
  }

  void set_size(int n) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    threads_wanted_ = n > 0 ? n : default_threads();
  }

  void run(int64_t begin, int64_t end, int64_t grain, const RangeFn& fn) {
    if (end <= begin) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t chunks = (end - begin + grain - 1) / grain;
    // One parallel loop at a time: concurrent callers (several async operations) queue here,
    // which keeps each loop's threads on cores instead of oversubscribing them.
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    if (threads_wanted_ <= 1 || chunks == 1) {
      // Same chunk boundaries as the threaded path, so results never depend on the pool size.
      for (int64_t b = begin; b < end; b += grain) fn(b, std::min(end, b + grain));
      return;
    }
    resize(threads_wanted_ - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      begin_ = begin;
      end_ = end;
      grain_ = grain;
      chunks_ = chunks;
      next_.store(0);
      pending_ = static_cast<int>(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= chunks_) return;
      int64_t b = begin_ + c * grain_;
      int64_t e = std::min(end_, b + grain_);
      try {
        (*job_)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(chunks_);  // stop handing out chunks
      }
    }
  }

  // Called with run_mutex_ held (or from the destructor).
  void resize(int n) {
    if (static_cast<int>(workers_.size()) == n) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    // Workers start having "seen" the current generation so they wait for the next job.
    for (int i = 0; i < n; ++i) {
      workers_.emplace_back([this, gen = generation_] { worker_loop_from(gen); });
    }
  }

  void worker_loop_from(uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  std::mutex run_mutex_;
  int threads_wanted_ = default_threads();

  std::mutex mutex_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  const RangeFn* job_ = nullptr;
  int64_t begin_ = 0, end_ = 0, grain_ = 1, chunks_ = 0;
  std::atomic<int64_t> next_{0};
  int pending_ = 0;
  std::exception_ptr error_;
};

Pool& pool() {
  // Leaked on purpose: joining threads from a static destructor at process exit can deadlock
  // when the exit happens on a worker-adjacent path (e.g. inside Node's teardown).
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

void parallel_for(int64_t begin, int64_t end, int64_t grain, const RangeFn& fn) { pool().run(begin, end, grain, fn); }

int num_threads() noexcept { return pool().size(); }
void set_num_threads(int n) { pool().set_size(n); }

}  // namespace hrseg
