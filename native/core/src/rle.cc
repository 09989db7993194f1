#include "hrseg/rle.h"

#include "hrseg/error.h"

namespace hrseg {

std::vector<uint32_t> rle_encode(const uint8_t* mask, int64_t H, int64_t W) {
  std::vector<uint32_t> counts;
  uint8_t current = 0;
  uint32_t run = 0;
  for (int64_t x = 0; x < W; ++x)
    for (int64_t y = 0; y < H; ++y) {
      const uint8_t v = mask[y * W + x] != 0;
      if (v != current) {
        counts.push_back(run);
        run = 0;
        current = v;
      }
      ++run;
    }
  counts.push_back(run);
  return counts;
}

void rle_decode(const std::vector<uint32_t>& counts, int64_t H, int64_t W, uint8_t* mask) {
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  if (total != static_cast<uint64_t>(H * W))
    fail(ErrorCode::InvalidArgument,
         "RLE counts cover " + std::to_string(total) + " pixels, the mask has " + std::to_string(H * W));
  int64_t i = 0;
  uint8_t v = 0;
  for (uint32_t c : counts) {
    for (uint32_t n = 0; n < c; ++n, ++i) mask[(i % H) * W + i / H] = v;  // column-major walk
    v ^= 1;
  }
}

// Each count (after the first two, as a difference to the count two before) is written in 5-bit
// groups, low first, offset by '0'; bit 0x20 marks "more groups follow", 0x10 carries the sign.
std::string rle_to_string(const std::vector<uint32_t>& counts) {
  std::string s;
  for (size_t i = 0; i < counts.size(); ++i) {
    int64_t x = counts[i];
    if (i > 2) x -= static_cast<int64_t>(counts[i - 2]);
    bool more = true;
    while (more) {
      int64_t c = x & 0x1f;
      x >>= 5;  // arithmetic shift: negative differences end at -1
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

std::vector<uint32_t> rle_from_string(const std::string& s) {
  std::vector<uint32_t> counts;
  size_t p = 0;
  while (p < s.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size()) fail(ErrorCode::InvalidArgument, "RLE string ends inside a count");
      const int c = static_cast<unsigned char>(s[p]) - 48;
      if (c < 0 || c > 63 || k > 12)
        fail(ErrorCode::InvalidArgument, "RLE string has an invalid character at " + std::to_string(p));
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= static_cast<int64_t>(-1) * (int64_t{1} << (5 * k));
    }
    if (counts.size() > 2) x += counts[counts.size() - 2];
    if (x < 0 || x > 0xffffffffLL)
      fail(ErrorCode::InvalidArgument, "RLE string decodes to a negative or oversized count");
    counts.push_back(static_cast<uint32_t>(x));
  }
  return counts;
}

}  // namespace hrseg
