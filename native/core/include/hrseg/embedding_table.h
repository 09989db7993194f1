// A token-embedding table read in place from a safetensors file (memory-mapped): gathering rows
// converts only those rows to f32, so a 7B model's f16 table is never copied or widened whole.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "hrseg/safetensors.h"
#include "hrseg/tensor.h"

namespace hrseg {

class EmbeddingTable {
 public:
  // `name` empty: the file's only 2-D tensor. Throws Error(ModelFile) naming the file and tensor.
  EmbeddingTable(std::shared_ptr<SafeTensors> file, const std::string& name);

  int64_t vocab() const noexcept { return vocab_; }
  int64_t dim() const noexcept { return dim_; }

  // ids [n] → f32 [n, dim] (written into `out`). Throws Error(InvalidArgument) naming the first
  // id out of range.
  void gather(const int64_t* ids, int64_t n, float* out) const;

 private:
  std::shared_ptr<SafeTensors> file_;
  std::string name_;
  const uint8_t* data_ = nullptr;
  std::string dtype_;
  int64_t vocab_ = 0, dim_ = 0;
};

}  // namespace hrseg
