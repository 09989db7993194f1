#include "hrseg/dtype.h"

#include <cmath>
#include <cstring>

namespace hrseg {

namespace {
struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "float32", 4}, {DType::F16, "float16", 2}, {DType::BF16, "bfloat16", 2}, {DType::I32, "int32", 4},
    {DType::I64, "int64", 8},   {DType::U8, "uint8", 1},    {DType::Bool, "bool", 1},
};
}  // namespace

size_t dtype_size(DType dtype) noexcept { return kTypes[static_cast<int>(dtype)].size; }
const char* dtype_name(DType dtype) noexcept { return kTypes[static_cast<int>(dtype)].name; }

std::optional<DType> dtype_from_name(std::string_view name) noexcept {
  for (const auto& t : kTypes)
    if (name == t.name) return t.dtype;
  return std::nullopt;
}

float f16_bits_to_float(uint16_t h) noexcept {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

float bf16_bits_to_float(uint16_t b) noexcept {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace hrseg
