#include "hrseg/embedding_table.h"

#include <cstring>

#include "hrseg/error.h"

namespace hrseg {

EmbeddingTable::EmbeddingTable(std::shared_ptr<SafeTensors> file, const std::string& name) : file_(std::move(file)) {
  std::string chosen = name;
  if (chosen.empty()) {
    for (const auto& [n, e] : file_->entries())
      if (e.shape.size() == 2) {
        if (!chosen.empty())
          throw Error(ErrorCode::ModelFile, file_->label() + ": several 2-D tensors ('" + chosen + "', '" + n +
                                                "'); name the embedding table");
        chosen = n;
      }
    if (chosen.empty()) throw Error(ErrorCode::ModelFile, file_->label() + ": no 2-D tensor (the embedding table)");
  }
  auto it = file_->entries().find(chosen);
  if (it == file_->entries().end())
    throw Error(ErrorCode::ModelFile, file_->label() + ": tensor '" + chosen + "' not found");
  const SafeTensors::Entry& e = it->second;
  if (e.shape.size() != 2)
    throw Error(ErrorCode::ModelFile, file_->label() + ": tensor '" + chosen + "' has shape " +
                                          dims_to_string(e.shape) + ", expected [vocab, hidden]");
  if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16")
    throw Error(ErrorCode::ModelFile,
                file_->label() + ": tensor '" + chosen + "' is " + e.dtype + "; expected F32, F16 or BF16");
  name_ = chosen;
  dtype_ = e.dtype;
  vocab_ = e.shape[0];
  dim_ = e.shape[1];
  data_ = file_->bytes(e);
}

void EmbeddingTable::gather(const int64_t* ids, int64_t n, float* out) const {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= vocab_)
      throw Error(ErrorCode::InvalidArgument, "token id " + std::to_string(ids[i]) + " at position " +
                                                  std::to_string(i) + " is outside the embedding table (vocab " +
                                                  std::to_string(vocab_) + ")");
  for (int64_t i = 0; i < n; ++i) {
    float* dst = out + i * dim_;
    if (dtype_ == "F32") {
      std::memcpy(dst, data_ + ids[i] * dim_ * 4, dim_ * 4);
    } else {
      const uint8_t* row = data_ + ids[i] * dim_ * 2;
      const bool half = dtype_ == "F16";
      for (int64_t d = 0; d < dim_; ++d) {
        uint16_t v;
        std::memcpy(&v, row + 2 * d, 2);
        dst[d] = half ? f16_bits_to_float(v) : bf16_bits_to_float(v);
      }
    }
  }
}

}  // namespace hrseg
