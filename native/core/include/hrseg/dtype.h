// Element types that cross the JS/native boundary. The names match lib/tensor.ts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hrseg {

enum class DType : uint8_t { F32, F16, BF16, I32, I64, U8, Bool };

size_t dtype_size(DType dtype) noexcept;

// IEEE half and bfloat16 bit patterns to float.
float f16_bits_to_float(uint16_t h) noexcept;
float bf16_bits_to_float(uint16_t b) noexcept;
const char* dtype_name(DType dtype) noexcept;
std::optional<DType> dtype_from_name(std::string_view name) noexcept;

}  // namespace hrseg
