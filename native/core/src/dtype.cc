#include "hrseg/dtype.h"

namespace hrseg {

namespace {
struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "float32", 4}, {DType::F16, "float16", 2}, {DType::BF16, "bfloat16", 2},
    {DType::I32, "int32", 4},   {DType::I64, "int64", 8},   {DType::U8, "uint8", 1},
    {DType::Bool, "bool", 1},
};
}  // namespace

size_t dtype_size(DType dtype) noexcept { return kTypes[static_cast<int>(dtype)].size; }
const char* dtype_name(DType dtype) noexcept { return kTypes[static_cast<int>(dtype)].name; }

std::optional<DType> dtype_from_name(std::string_view name) noexcept {
  for (const auto& t : kTypes)
    if (name == t.name) return t.dtype;
  return std::nullopt;
}

}  // namespace hrseg
