#include "mappedPlan.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backendCommon.h"

namespace hrseg::trt {

MappedPlan::MappedPlan(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Failure(HRSEG_TRT_IO, "cannot open the engine plan " + path + ": " + std::strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Failure(HRSEG_TRT_IO, "the engine plan " + path + " is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw Failure(HRSEG_TRT_IO, "the engine plan " + path + " is empty: rebuild it with hrseg build-engines");
  }
  size_ = static_cast<size_t>(st.st_size);
  data_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (data_ == MAP_FAILED) {
    data_ = nullptr;
    throw Failure(HRSEG_TRT_IO, "cannot map the engine plan " + path + " (" + std::to_string(size_) + " bytes): " + std::strerror(map_errno));
  }
  madvise(data_, size_, MADV_SEQUENTIAL);
}

MappedPlan::~MappedPlan() {
  if (data_) munmap(data_, size_);
}

}  // namespace hrseg::trt
