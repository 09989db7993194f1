// A whole file mapped read-only into memory. Readers take views into it instead of reading it, so
// a checkpoint larger than RAM (LLM-Seg's 31.5 GB) costs only the pages that are touched, and the
// kernel can drop them again. Shared: every view holds the mapping alive.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace hrseg {

class MappedFile {
 public:
  // Throws Error(ModelFile) naming the path when it cannot be opened or mapped, or is not a
  // regular file. An empty file maps to size 0 and a null data pointer.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hrseg
