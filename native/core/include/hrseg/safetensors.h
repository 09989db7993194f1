// Reads safetensors files without copying them: the file is memory-mapped (or a caller's buffer
// is borrowed) and f32 tensors are used in place. f16 and bf16 tensors are widened to f32 once,
// at load, since every computation is f32. Every inconsistency in the file is an Error(ModelFile)
// that names the tensor or the byte range.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hrseg/mapped_file.h"
#include "hrseg/tensor.h"

namespace hrseg {

class SafeTensors {
 public:
  // Maps `path` read-only. `label` is used in error messages (defaults to the path).
  static std::shared_ptr<SafeTensors> open(const std::string& path);
  // Borrows [data, data+size); the caller keeps that memory alive as long as this object lives.
  static std::shared_ptr<SafeTensors> borrow(const void* data, size_t size, std::string label);

  struct Entry {
    std::string dtype;  // "F32", "F16", "BF16", ...
    Dims shape;
    size_t begin = 0, end = 0;  // byte offsets into the data section
  };

  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::string& label() const { return label_; }

  // A float32 view of `name`, which must have exactly `shape` (-1 = any size). Throws
  // Error(ModelFile) naming the tensor when it is missing or its shape or dtype is wrong.
  const float* f32(const std::string& name, const Dims& shape) const;
  // Like f32(), but returns null when the tensor is absent (optional biases).
  const float* f32_optional(const std::string& name, const Dims& shape) const;
  // The bytes of `name` as stored, without widening (shape checked as by f32(); *dtype set to
  // F32, F16 or BF16, any other dtype throws): for readers that keep 16-bit weights 16-bit. The
  // pointer may be unaligned.
  const uint8_t* stored(const std::string& name, const Dims& shape, DType* dtype) const;
  // The shape stored for `name` (throws when absent).
  const Dims& shape(const std::string& name) const;
  // The stored bytes of an entry, in place (for readers that convert only what they use).
  const uint8_t* bytes(const Entry& e) const { return data_ + e.begin; }

  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

 private:
  SafeTensors() = default;
  void parse();
  const Entry* find_checked(const std::string& name, const Dims& shape) const;  // null when absent
  const float* materialise(const std::string& name, const Entry& e) const;

  std::string label_;
  const uint8_t* base_ = nullptr;  // whole file
  size_t size_ = 0;
  std::shared_ptr<const MappedFile> file_;  // set when we mapped the file ourselves
  const uint8_t* data_ = nullptr;           // data section
  size_t data_size_ = 0;
  std::map<std::string, Entry> entries_;
  mutable std::map<std::string, std::vector<float>> converted_;  // f16/bf16/unaligned → f32
};

}  // namespace hrseg
