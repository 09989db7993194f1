// A plan file mapped read-only for IRuntime::deserializeCudaEngine: no size limit (a JS Buffer
// stops at 2 GiB), no copy in our memory (the pages are the file's, dropped when unmapped).
#pragma once
#include <cstddef>
#include <string>

namespace hrseg::trt {

class MappedPlan {
 public:
  // Throws Failure(IO) for a missing, unreadable, empty or non-regular file.
  explicit MappedPlan(const std::string& path);
  ~MappedPlan();
  MappedPlan(const MappedPlan&) = delete;
  MappedPlan& operator=(const MappedPlan&) = delete;
  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hrseg::trt
